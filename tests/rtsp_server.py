# A real RTSP camera stand-in for the tests: GStreamer's RTSP server (Debian packages
# python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,bad,ugly}) serving a
# test stream on 127.0.0.1. Run with Debian's /usr/bin/python3.
# Usage: rtsp_server.py PORT [WIDTH HEIGHT KBPS]   (prints "ready" when it serves
# rtsp://127.0.0.1:PORT/cam; default 640x360 at 2048 kbit/s, H.264). `packwitness bench
# passthrough` embeds this file too.
# Environment, for the camera quirks the tests need:
#   PW_RTSP_CODEC=h265        H.265 (x265) instead of H.264
#   PW_RTSP_AUTH=USER:PASS    digest authentication required
#   PW_RTSP_RESIZE_S=N        the picture size changes (to 480x270) N seconds after the
#                             stream starts: new parameter sets mid-stream
#   PW_RTSP_UNTIMED=N         the first N encoded frames go to the payloader without a
#                             timestamp (their RTP time does not advance)
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
width, height, kbps = (sys.argv[2:5] + ["640", "360", "2048"][len(sys.argv[2:5]):])[:3]
if os.environ.get("PW_RTSP_CODEC") == "h265":
    encode = (
        f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate={int(kbps)} "
        "! video/x-h265,profile=main ! identity name=untimed ! rtph265pay name=pay0 pt=96 config-interval=1"
    )
else:
    encode = (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate={int(kbps)} "
        "! identity name=untimed ! rtph264pay name=pay0 pt=96 config-interval=1"
    )
factory.set_launch(
    f"( videotestsrc is-live=true ! video/x-raw,framerate=30/1 ! videoscale "
    f"! capsfilter name=size caps=video/x-raw,width={int(width)},height={int(height)} "
    f"! {encode} )"
)
factory.set_shared(True)

resize_s = os.environ.get("PW_RTSP_RESIZE_S")
if resize_s:
    def configured(_factory, media):
        size = media.get_element().get_by_name("size")

        def resize():
            size.set_property(
                "caps", Gst.Caps.from_string("video/x-raw,width=480,height=270")
            )
            print("resized", flush=True)
            return False

        GLib.timeout_add(int(float(resize_s) * 1000), resize)

    factory.connect("media-configure", configured)

untimed = int(os.environ.get("PW_RTSP_UNTIMED", "0"))
if untimed:
    def strip(_factory, media):
        left = [untimed]

        def probe(_pad, info):
            if left[0] > 0:
                # The buffer's fields, set in place (the bindings cannot swap the buffer).
                buf = info.get_buffer()
                buf.pts = Gst.CLOCK_TIME_NONE
                buf.dts = Gst.CLOCK_TIME_NONE
                left[0] -= 1
            return Gst.PadProbeReturn.OK

        pad = media.get_element().get_by_name("untimed").get_static_pad("src")
        pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    factory.connect("media-configure", strip)

auth_text = os.environ.get("PW_RTSP_AUTH")
if auth_text:
    user, password = auth_text.split(":", 1)
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera-user")
    auth.add_digest(user, password, token)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("camera-user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role("camera-user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)

server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on port " + sys.argv[1])
print("ready", flush=True)
GLib.MainLoop().run()

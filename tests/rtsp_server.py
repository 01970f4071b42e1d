# A real RTSP camera stand-in for the tests: GStreamer's RTSP server (Debian packages
# python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,ugly}) serving an
# H.264 test stream on 127.0.0.1. Run with Debian's /usr/bin/python3.
# Usage: rtsp_server.py PORT [WIDTH HEIGHT KBPS]   (prints "ready" when it serves
# rtsp://127.0.0.1:PORT/cam; default 640x360 at 2048 kbit/s). `packwitness bench passthrough`
# embeds this file too.
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
width, height, kbps = (sys.argv[2:5] + ["640", "360", "2048"][len(sys.argv[2:5]):])[:3]
factory.set_launch(
    f"( videotestsrc is-live=true ! video/x-raw,width={int(width)},height={int(height)},framerate=30/1 "
    f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate={int(kbps)} "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on port " + sys.argv[1])
print("ready", flush=True)
GLib.MainLoop().run()

# A real RTSP camera stand-in for the tests: GStreamer's RTSP server (Debian packages
# python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,ugly}) serving an
# H.264 test stream on 127.0.0.1. Run with Debian's /usr/bin/python3.
# Usage: rtsp_server.py PORT   (prints "ready" when it serves rtsp://127.0.0.1:PORT/cam)
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
factory.set_launch(
    "( videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on port " + sys.argv[1])
print("ready", flush=True)
GLib.MainLoop().run()

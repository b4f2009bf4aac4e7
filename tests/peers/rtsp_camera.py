#!/usr/bin/python3
"""A test camera: GStreamer's RTSP server on 127.0.0.1.

Mount points (shared factories: every client sees the same encoder):
  /h264  live test pattern, 1280x720@25, x264 (zerolatency, ultrafast, GOP 50)
  /h265  the same with x265
  /file  an Annex-B H.264 file (--file) looped without re-encoding

Prints `READY <port>` on stdout once listening (port 0 picks a free port),
exits on SIGTERM or SIGINT. Run it with /usr/bin/python3 (it needs python3-gi
and gir1.2-gst-rtsp-server-1.0). With --user/--password every mount point
asks for HTTP basic credentials.
"""

import argparse
import os
import signal
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as err:
    # The Rust harness recognises this line and names the packages to install.
    print(f"MISSING-GI: {err}", file=sys.stderr, flush=True)
    sys.exit(3)

WIDTH, HEIGHT, FPS = 1280, 720, 25
RAW = (
    f"videotestsrc is-live=true pattern=ball ! "
    f"video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1"
)
PIPELINES = {
    "/h264": (
        f"( {RAW} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 "
        f"key-int-max=50 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    ),
    # zerolatency also turns off B-frames, so dts == pts on the wire.
    "/h265": (
        f"( {RAW} ! x265enc tune=zerolatency speed-preset=ultrafast bitrate=2000 "
        f"key-int-max=50 ! rtph265pay name=pay0 pt=96 config-interval=-1 )"
    ),
}
FILE_PIPELINE = (
    "( multifilesrc location={location} loop=true ! h264parse ! "
    "video/x-h264,alignment=au,stream-format=byte-stream ! "
    "rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
ROLE = "camera-user"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--file", help="Annex-B H.264 file served at /file")
    parser.add_argument("--user", help="require basic auth with this user")
    parser.add_argument("--password", help="... and this password")
    args = parser.parse_args()
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    return args


def factory(launch, auth):
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(launch)
    f.set_shared(True)
    if auth:
        role = Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        f.add_role_from_structure(role)
    return f


def main():
    args = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))

    auth = args.user is not None
    if auth:
        rtsp_auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        rtsp_auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(rtsp_auth)

    mounts = server.get_mount_points()
    for path, launch in PIPELINES.items():
        mounts.add_factory(path, factory(launch, auth))
    if args.file:
        location = os.path.abspath(args.file)
        if not os.path.isfile(location):
            print(f"no such file: {location}", file=sys.stderr, flush=True)
            sys.exit(2)
        mounts.add_factory("/file", factory(FILE_PIPELINE.format(location=location), auth))

    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    # Tearing the shared pipelines down can take seconds; a test camera just goes.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A GStreamer RTSP relay, the reference vfed's relay is benchmarked against.

gst-rtsp-server on 127.0.0.1 with one shared media factory per mount point
/s0 .. /s<N-1>, each
  ( rtspsrc location=<upstream> latency=0 ! rtph264depay ! rtph264pay name=pay0 pt=96 )
so every client of a mount shares one upstream pull (the fan-out case), and
N mounts relay N distinct streams (the 1-in-1-out case). The pipelines are
built on the first client of a mount. --upstream may be given once (every
mount pulls the same URL) or once per mount.

Prints `READY <port>` on stdout once listening (port 0 picks a free port),
exits on SIGTERM or SIGINT. Run it with /usr/bin/python3 (it needs python3-gi
and gir1.2-gst-rtsp-server-1.0).
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
    print(f"MISSING-GI: {err}", file=sys.stderr, flush=True)
    sys.exit(3)

LAUNCH = (
    "( rtspsrc location={location} latency=0 ! rtph264depay ! "
    "rtph264pay name=pay0 pt=96 )"
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mounts", type=int, default=1, help="mount points /s0 ..")
    parser.add_argument(
        "--upstream", action="append", required=True, help="RTSP URL to relay (once, or per mount)"
    )
    args = parser.parse_args()
    if args.mounts < 1:
        parser.error("--mounts must be at least 1")
    if len(args.upstream) not in (1, args.mounts):
        parser.error("give --upstream once or once per mount")
    return args


def main():
    args = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for i in range(args.mounts):
        upstream = args.upstream[i % len(args.upstream)]
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(location=upstream))
        factory.set_shared(True)
        mounts.add_factory(f"/s{i}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    # Tearing shared pipelines down can take seconds; a benchmark peer just goes.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

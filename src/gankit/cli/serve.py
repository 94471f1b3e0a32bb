"""`gankit serve`: an HTTP service and a web page for a trained generator."""

from __future__ import annotations

import argparse

from gankit.cli import common

# The defaults of gankit.serve.limits.Limits, repeated here so that --help needs no torch import;
# tests/serve checks that the two agree.
DEFAULTS = {"max_n": 64, "max_steps": 32, "max_seeds": 8, "max_upload_bytes": 8 * 2**20, "max_images": 16,
            "max_pixels": 4096 * 4096, "workers": 2, "queue": 8, "timeout_s": 30.0}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in [0, 65535], got {text!r}")
    return value


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    d = DEFAULTS
    p = sub.add_parser(
        name, help="serve a trained generator over HTTP, with a web page to explore it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start an HTTP service (FastAPI on uvicorn) for a run's generator: open the printed address "
                    "in a browser to pick a seed or class and see samples, drag a slider between two seeds, "
                    "or upload an image for the discriminator's verdict; for an image-to-image run, upload an "
                    "image and get it translated. The API's schema is at /openapi.json. "
                    "Ctrl-C stops it.",
        epilog="""endpoints:
  GET  /                    the web page (plain HTML + JS served by the service; nothing from the internet)
  GET  /api/health          status and how busy the work queue is
  GET  /api/model           the model card (kind, shape, classes, loss, limits, README.md)
  GET  /api/sample          ?seed=0&n=16&class=Sneaker&truncation=1&format=png|json
  GET  /api/interpolate     ?seeds=1,2,3&steps=8&slerp=false&class=...&format=gif|png|json
  POST /api/score           multipart 'images' files -> the discriminator's verdict (a run with checkpoints)
  POST /api/translate       multipart 'images' files (+ 'masks' for inpainting; ?degrade=true makes the
                            run's degradation from clean images; ?convert=true converts channels;
                            ?format=png|json) -> each translated at its own size (x data.scale)
                            (image-to-image runs only; their /api/sample, /api/interpolate and
                            /api/score answer 409: a pix2pix discriminator judges pairs);
                            unpaired runs: ?direction=a2b|b2a, munit a 'style' file or ?seed=N

limits (each refusal is JSON {"detail": "<param>: ..."}):
  413  n > --max-n, steps > --max-steps, more seeds than --max-walk, an upload over --max-upload-mb or
       --max-images, an image over --max-pixels by its header (decompression bombs are refused undecoded)
       or whose super-resolved output would pass it
  415  an upload that is not PNG, JPEG, BMP or WebP (told by content, not name); 422 any other bad,
       unknown or repeated parameter, naming it; 409 what the run cannot do (translate on a GAN)
  503  + Retry-After: --workers busy and --queue requests already waiting (or that many uploads
       still arriving); 504 past --timeout
       seconds of work; 408 an upload not received within --timeout seconds
  Uploads stay in memory; no path or file name from a request ever touches the disk.

examples:
  gankit serve runs/demo                     # then open http://127.0.0.1:8000/
  gankit serve runs/demo --port 8080 --max-n 16 --workers 1
  curl -o grid.png 'http://127.0.0.1:8000/api/sample?seed=3&n=16'
  curl -F images=@shirt.png http://127.0.0.1:8000/api/score
  gankit serve runs/sr                       # an image-to-image run
  curl -F images=@small.png -o big.png http://127.0.0.1:8000/api/translate
  curl -F images=@photo.png -F masks=@holes.png -o filled.png http://127.0.0.1:8000/api/translate
  gankit serve runs/munit                    # an unpaired, example-guided run
  curl -F images=@boot.png -F style=@sneaker.png -o out.png 'http://127.0.0.1:8000/api/translate?direction=b2a'""")
    p.add_argument("model", metavar="RUN_OR_GENERATOR",
                   help="a run folder (score needs its checkpoints/), its generator/ folder or a checkpoint")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the "
                        "network, with no authentication)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--max-n", type=common.positive_int, default=d["max_n"],
                   help=f"most samples per request (default: {d['max_n']})")
    p.add_argument("--max-steps", type=common.positive_int, default=d["max_steps"],
                   help=f"most interpolation frames per pair of seeds (default: {d['max_steps']})")
    # not --max-seeds: every option whose name holds "seed" takes a seed (tests/cli/test_cli_seeds.py)
    p.add_argument("--max-walk", type=common.positive_int, default=d["max_seeds"],
                   help=f"most seeds in one interpolation walk (default: {d['max_seeds']})")
    p.add_argument("--max-upload-mb", type=common.positive_float, default=d["max_upload_bytes"] / 2**20,
                   help=f"largest upload in MiB, all images together (default: {d['max_upload_bytes'] // 2**20})")
    p.add_argument("--max-images", type=common.positive_int, default=d["max_images"],
                   help=f"most images per upload (default: {d['max_images']})")
    p.add_argument("--max-pixels", type=common.positive_int, default=d["max_pixels"],
                   help=f"most pixels of one uploaded image, and of its translation (default: {d['max_pixels']:,} = 4096x4096)")
    p.add_argument("--workers", type=common.positive_int, default=d["workers"],
                   help=f"threads doing model work at once (default: {d['workers']})")
    p.add_argument("--queue", type=common.nonnegative_int, default=d["queue"],
                   help=f"requests that may wait for a worker; more get 503 (default: {d['queue']})")
    p.add_argument("--timeout", type=common.positive_float, default=d["timeout_s"],
                   help=f"seconds a request may take (default: {d['timeout_s']:g})")
    p.add_argument("--threads", type=common.thread_count, default=1,
                   help="torch threads per worker (default: 1; 0 = torch's default)")
    common.device_arg(p)
    return p


def _listen(host: str, port: int):
    """A socket bound to host:port (bound here, not by uvicorn, so a taken port is one clear line)."""
    import socket
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise OSError(f"--host/--port: cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def limits_of(args):
    from gankit.serve.limits import Limits
    return Limits(max_n=args.max_n, max_steps=args.max_steps, max_seeds=args.max_walk,
                  max_upload_bytes=max(1, int(args.max_upload_mb * 2**20)), max_images=args.max_images,
                  max_pixels=args.max_pixels, workers=args.workers, queue=args.queue, timeout_s=args.timeout)


def run(args) -> int:
    import sys

    from gankit.extras import require
    require("serve")  # before loading anything
    import torch
    import uvicorn

    from gankit.serve import create_app
    limits = limits_of(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    app = create_app(args.model, limits, device=args.device)  # a bad run fails before a port is taken
    sock = _listen(args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    if app.state.served.score_problem:
        print(f"note: /api/score is off: {app.state.served.score_problem}", file=sys.stderr)
    if args.host not in LOOPBACK:
        print(f"gankit: warning: listening on {args.host}: anyone who can reach this machine can use the service "
              f"(there is no authentication)", file=sys.stderr)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5,
                            limit_concurrency=max(64, 8 * (limits.workers + limits.queue)))
    print(f"serving {args.model} on http://{host}:{port}/ (API schema: /openapi.json; Ctrl-C stops)", flush=True)
    # uvicorn handles Ctrl-C and SIGTERM itself: it stops taking connections, finishes the open ones,
    # then raises the signal again (Ctrl-C: KeyboardInterrupt here, the ordinary way to stop a service).
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    print("gankit: stopped serving", file=sys.stderr)
    return 0

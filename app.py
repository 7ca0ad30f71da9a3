"""python app.py: parse flags, build the demo, launch. Nothing else."""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from pathlib import Path

from autowrite.arena.pairs import Arena
from autowrite.arena.schema import database_url, default_data_dir
from autowrite.arena.votes import Store
from autowrite.catalog import CATALOG_PATH, load_catalog
from autowrite.loading import BACKENDS, ModelCache, fast_backend_available, load_entry, remote_entry
from autowrite.remote_wire import api_base
from autowrite.scheduling import Traffic
from autowrite.service import DEFAULT_MAX_DOWNLOAD_BYTES, Service
from autowrite.ui import lanes
from autowrite.ui.app import build_demo, launch_options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The app's command-line flags; those a Space sets (host, port, catalog, backend, remote) also come from the environment."""
    parser = argparse.ArgumentParser(description="Autowrite: live completion, generation and comparison.")
    serving = parser.add_argument_group("serving")
    # Spaces set GRADIO_SERVER_NAME=0.0.0.0; locally the app stays on loopback.
    serving.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    serving.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    serving.add_argument("--no-preload", action="store_true", help="load the default model on first use, not at start")
    serving.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    _model_flags(parser)
    _remote_flags(parser)
    _vote_flags(parser)
    # The API key comes from the environment only: a flag would show it in the process list.
    parser.set_defaults(remote_api_key=os.environ.get("AUTOWRITE_REMOTE_API_KEY") or None)
    return parser.parse_args(argv)


def _model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument("--catalog", type=Path, default=Path(os.environ.get("AUTOWRITE_CATALOG", CATALOG_PATH)))
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("AUTOWRITE_BACKEND", "auto"),
        help="auto: llama.cpp for the embedded model and its adapters, transformers for the rest",
    )
    group.add_argument(
        "--allow-custom-models",
        action="store_true",
        default=os.environ.get("AUTOWRITE_ALLOW_CUSTOM_MODELS") == "1",
        help="let people type any Hub repo id (or, with --models-dir, a folder under it) into the model box (off on shared Spaces)",
    )
    group.add_argument(
        "--models-dir",
        type=Path,
        default=os.environ.get("AUTOWRITE_MODELS_DIR") or None,
        help="with --allow-custom-models, the folder whose sub-folders can be typed as models, by their path "
        "relative to it; without it, a typed name can only be a Hub repo id",
    )
    group.add_argument(
        "--max-download-gb",
        type=float,
        default=DEFAULT_MAX_DOWNLOAD_BYTES / 1e9,
        help="largest typed Hub repo to download, checked from Hub metadata first",
    )
    # Why 2 models and 2 GB: the default (a 135M model, ~0.3 GB with its caches) and one Hub
    # model beside it for comparing, within a free Space's 16 GB with room for downloads.
    group.add_argument("--max-models", type=int, default=2, help="models kept loaded at once")
    group.add_argument("--max-model-gb", type=float, default=2.0, help="memory budget of the loaded models' weights")


def _remote_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote server")
    group.add_argument(
        "--remote-url",
        type=api_base,
        default=os.environ.get("AUTOWRITE_REMOTE_URL") or None,
        help="also offer the model of an OpenAI-compatible completions server (vLLM, TGI, llama.cpp), first in the list",
    )
    group.add_argument(
        "--remote-model",
        default=os.environ.get("AUTOWRITE_REMOTE_MODEL") or None,
        help="the served model's name, shown in the list and sent with each request; "
        "when left out, the list shows the name the server reports and requests name none",
    )


def _vote_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("arena votes")
    # On a Space, the folder is its persistent storage (/data), so votes outlive a restart.
    group.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("AUTOWRITE_DATA_DIR") or default_data_dir(),
        help="the folder of the arena's SQLite database (arena.sqlite3)",
    )
    group.add_argument(
        "--votes-url",
        default=os.environ.get("AUTOWRITE_VOTES_URL") or None,
        help="a database URL for the arena's votes instead (postgresql://user:password@host/db), "
        "for several replicas sharing one store",
    )


def main(args: argparse.Namespace) -> None:
    """Build the service and the page, then serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    entries = load_catalog(args.catalog)
    if args.backend != "transformers" and fast_backend_available():
        from autowrite.backends.compute import one_openmp_team

        one_openmp_team()  # llama.cpp's decodes go ~2.4x faster with one OpenMP team in the process
    if args.remote_url:
        entries = [remote_entry(args.remote_url, args.remote_model, args.remote_api_key), *entries]
    service = Service(
        entries,
        cache=ModelCache(
            # One Traffic for every model: they share the cores, and llama.cpp sizes its threads by it.
            partial(load_entry, backend=args.backend, remote_api_key=args.remote_api_key, traffic=Traffic()),
            max_models=args.max_models,
            max_bytes=int(args.max_model_gb * 1e9),
        ),
        allow_custom=args.allow_custom_models,
        models_dir=args.models_dir,
        max_download_bytes=int(args.max_download_gb * 1e9),
    )
    if not args.no_preload:
        service.load(service.default_name)
    store = Store(database_url(args.data_dir, args.votes_url))
    store.migrate()  # an unreachable database or a newer schema fails here, at start, not at the first vote
    logging.getLogger("autowrite").info("Arena votes kept in %s", store.describe())
    demo = build_demo(service, arena=Arena(service, store))
    lanes.enable_queue(demo)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options(demo))


if __name__ == "__main__":
    main(parse_args())

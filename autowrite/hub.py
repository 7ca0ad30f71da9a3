"""Talking to the Hugging Face Hub: repo files and sizes, model cards, the local cache.

Every function here works offline when what it needs is in the local HF cache, and says
plainly when it is not; none of them ever runs code from a repository.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi, ModelCard, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from autowrite.catalog import CardInfo, read_card_metadata

# Why 10 s: long enough for a slow Hub, short enough that an offline start does not stall.
HUB_TIMEOUT_S = 10.0


class HubUnreachable(ConnectionError):
    """The Hub could not be asked (offline mode, no network, time-out)."""


class HubNotFound(LookupError):
    """The Hub answered that the repo, revision or file does not exist or is gated."""


def _model_info(repo: str, revision: str | None):
    try:
        return HfApi().model_info(repo, revision=revision, files_metadata=True, timeout=HUB_TIMEOUT_S)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as error:
        raise HubNotFound(f"{repo}: {type(error).__name__}") from None
    except Exception as error:  # offline mode, DNS, refused, time-out: all mean "cannot ask"
        raise HubUnreachable(f"{type(error).__name__}: {error}".split("\n")[0][:200]) from None


def weight_patterns(repo: str, revision: str | None = None) -> list[str]:
    """Which weight files to fetch: safetensors when the repo has them, else pytorch_model.bin."""
    files = [s.rfilename for s in _model_info(repo, revision).siblings or []]
    if any(f.endswith(".safetensors") for f in files):
        return ["*.safetensors"]
    return [f for f in files if f.endswith(".bin") and "pytorch_model" in f] or ["*.safetensors"]


def download_size(repo: str, revision: str | None = None) -> int:
    """Bytes a snapshot of the repo's weights and config would take, from Hub metadata."""
    info = _model_info(repo, revision)
    weights = weight_patterns(repo, revision)
    total = 0
    for sibling in info.siblings or []:
        name = sibling.rfilename
        wanted = name.endswith((".json", ".txt", ".model")) or any(
            name.endswith(p.lstrip("*")) if p.startswith("*") else name == p for p in weights
        )
        if wanted:
            total += sibling.size or 0
    return total


def read_card(repo: str, revision: str | None = None) -> tuple[CardInfo | None, str]:
    """A Hub model card's defaults and examples, from the Hub or the local cache, with its origin."""
    if not constants.is_offline_mode():
        try:
            path = hf_hub_download(repo, "README.md", revision=revision, etag_timeout=HUB_TIMEOUT_S)
            return card_from_file(Path(path)), "model card"
        except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, EntryNotFoundError):
            return None, "no model card on the Hub"
        except Exception:  # unreachable: fall through to the cache
            pass
    try:
        path = hf_hub_download(repo, "README.md", revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, EntryNotFoundError, OSError):
        return None, "model card not reachable (Hub offline, not cached)"
    return card_from_file(Path(path)), "cached model card"


def card_from_file(path: Path) -> CardInfo:
    """Defaults and examples from a README.md with model card metadata."""
    card = ModelCard.load(path)
    return read_card_metadata(card.data.to_dict())


def is_cached(repo: str, revision: str | None = None) -> bool:
    """Whether the repo's config is in the local HF cache (so it can load offline)."""
    try:
        hf_hub_download(repo, "config.json", revision=revision, local_files_only=True)
        return True
    except (LocalEntryNotFoundError, EntryNotFoundError, OSError):
        return False

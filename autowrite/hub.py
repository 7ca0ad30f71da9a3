"""Talking to the Hugging Face Hub: repo files and sizes, the local cache, whether it answers now.

Every function here works offline when what it needs is in the local HF cache, and says
plainly when it is not; none of them ever runs code from a repository.
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass

from huggingface_hub import HfApi, constants, get_session, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import filter_repo_objects, validate_repo_id

# Why 10 s: long enough for a slow Hub, short enough that an offline start does not stall.
HUB_TIMEOUT_S = 10.0

# Files a text-generation checkpoint needs besides its weights: config, tokenizer, model card.
CONFIG_PATTERNS = ["*.json", "*.txt", "*.model", "tokenizer*", "README.md"]
# What a download by hand fetches for the app: config and tokenizer, the card, and the
# weights in either format (offline, the app cannot ask which one a repo has), not the
# TensorFlow, Flax and ONNX copies that make a repo such as gpt2 ten times larger.
HAND_DOWNLOAD_PATTERNS = ("*.json", "*.txt", "*.safetensors", "*.bin", "README.md")
# Why 3 s and 60 s: a page load that asks waits at most this long on an unreachable Hub, and
# asks again at most once a minute.
PROBE_TIMEOUT_S = 3.0
PROBE_EVERY_S = 60.0


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


def is_repo_id(name: str) -> bool:
    """Whether a name has the shape of a Hub model repo id (owner/name), by huggingface_hub's own rules."""
    if name.count("/") != 1:
        return False
    try:
        validate_repo_id(name)  # refuses "..", "--" and leading or trailing dots, so "../x" is no repo id
    except HFValidationError:
        return False
    return True


def _patterns(info) -> list[str]:
    # Safetensors first; *.bin only where a repo has no safetensors, and then it is read with
    # torch's weights-only unpickler.
    files = [s.rfilename for s in info.siblings or []]
    weights = [f for f in files if f.endswith(".bin") and "pytorch_model" in f]
    if not weights or any(f.endswith(".safetensors") for f in files):
        weights = ["*.safetensors"]
    return CONFIG_PATTERNS + weights


def allow_patterns(repo: str, revision: str | None = None) -> list[str]:
    """The allow_patterns to give snapshot_download: config, tokenizer and card files, then the weights."""
    return _patterns(_model_info(repo, revision))


def fetched_files(info) -> list:
    """The repo files (siblings) a snapshot_download with allow_patterns fetches, by its own matcher."""
    return list(filter_repo_objects(info.siblings or [], allow_patterns=_patterns(info), key=lambda s: s.rfilename))


def download_size(repo: str, revision: str | None = None) -> int:
    """Bytes the files a download of the repo fetches take, from Hub metadata."""
    return sum(sibling.size or 0 for sibling in fetched_files(_model_info(repo, revision)))


def is_cached(repo: str, revision: str | None = None) -> bool:
    """Whether the repo's config is in the local HF cache (so it can load offline)."""
    try:
        hf_hub_download(repo, "config.json", revision=revision, local_files_only=True)
        return True
    except (LocalEntryNotFoundError, EntryNotFoundError, OSError):
        return False


def download_command(repo: str, revision: str | None = None) -> str:
    """The `hf download` command line that puts what the app loads of a repo into the local cache."""
    words = ["hf", "download", repo, *(["--revision", revision] if revision else [])]
    words += [word for pattern in HAND_DOWNLOAD_PATTERNS for word in ("--include", pattern)]
    return shlex.join(words)


def reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the Hub answers now: never in offline mode (HF_HUB_OFFLINE), else after one quick request."""
    if constants.is_offline_mode():
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # DNS, refused, time-out: all mean "cannot reach"
        return False
    return True


@dataclass
class Reachability:
    """Whether the Hub answers, asked at most once per `every` seconds (offline mode is read each time)."""

    every: float = PROBE_EVERY_S
    answer: bool = False
    asked: float = -math.inf

    def last(self) -> bool:
        """The answer found last, without asking: before any, reachable unless in offline mode."""
        if constants.is_offline_mode():
            return False
        return self.answer if self.asked > -math.inf else True

    def __call__(self) -> bool:
        if constants.is_offline_mode():
            return False
        if time.monotonic() - self.asked >= self.every:
            self.answer, self.asked = reachable(), time.monotonic()
        return self.answer

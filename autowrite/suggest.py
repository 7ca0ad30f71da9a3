"""Live suggestions while typing: next words, completion of the word being typed, ghost text.

The text typed so far is split into a prefix of whole tokens and a remainder: the last
token is backed off ("token healing"), because "Gre" tokenized on its own is an unlikely
token that the model would continue as a new word. Candidates must then reproduce the
remainder's characters exactly, so "Gre" completes to "Great" and never to a fresh word.
The prefix goes through the backend's cache, so only the last few tokens are computed on
each keystroke.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from autowrite.backends.base import MIN_PROBABILITY, Backend, Suggestions, Word
from autowrite.sampling import apply_repetition_penalty

_WORD_CHAR = re.compile(r"[\w'’-]")
REMEMBERED_NEEDS = 4096  # typed-letter strings whose agreeing tokens are kept, oldest dropped first
_NO_TOKENS = torch.zeros(0, dtype=torch.long)


@dataclass
class _Path:
    ids: list[int]
    text: str  # text these ids add after the prefix
    logprob: float


def starts_word(piece: str) -> bool:
    """Whether a token begins a new word (or is punctuation/space), ending the current one."""
    return not piece or not _WORD_CHAR.match(piece[0])


def _split(backend: Backend, context: str, text: str) -> tuple[list[int], str]:
    """Prefix ids (context plus whole tokens of text) and the remainder after them.

    At least the last token is backed off, and then as many as it takes for the remainder to
    hold the whole word being typed with the space before it: a word the tokenizer split
    ("g" + "re") is completed as one word.
    """
    full = context + text
    ids = backend.encode(full)
    context_length = len(context)
    match = re.search(r"[\w'’-]+$", text)
    if match:
        target = len(full) - len(match.group(0))
        if target > context_length and full[target - 1] == " ":
            target -= 1
        target = max(target, context_length)
    else:
        target = len(full) - 1
    keep = max(len(ids) - 1, 0)
    while keep > 0:
        decoded = backend.decode(ids[:keep])
        if len(decoded) <= target and full.startswith(decoded):
            break
        keep -= 1
    prefix = ids[:keep]
    remainder = full[len(backend.decode(prefix)) :]
    if not prefix:
        prefix = list(backend.start_ids)
    return prefix, remainder


class _Index:
    """The vocabulary indexed by text, to find the tokens that agree with typed letters fast."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.exact: dict[str, list[int]] = {}
        self.by_start: dict[str, list[int]] = {}
        for token, piece in enumerate(vocabulary):
            if not piece or "\ufffd" in piece:
                continue
            self.exact.setdefault(piece, []).append(token)
            self.by_start.setdefault(piece[:2], []).append(token)
        self.first: dict[str, list[int]] = {}
        for start, tokens in self.by_start.items():
            self.first.setdefault(start[:1], []).extend(tokens)
        self.remembered: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._remembering = threading.Lock()

    def agreeing(self, need: str, vocabulary: list[str]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Tokens that start with need (they cover it; None: all do), and tokens that need starts with.

        Remembered per need: the same few strings (" ", " o", " or") come back on every
        keystroke, and after a space nearly half the vocabulary covers it.
        """
        if not need:
            return None, _NO_TOKENS
        found = self.remembered.get(need)
        if found is None:
            pool = self.first.get(need, []) if len(need) == 1 else self.by_start.get(need[:2], [])
            covering = [t for t in pool if vocabulary[t].startswith(need)]
            partial = [t for j in range(1, len(need)) for t in self.exact.get(need[:j], [])]
            found = (torch.tensor(covering, dtype=torch.long), torch.tensor(partial, dtype=torch.long))
            with self._remembering:  # keystrokes from several threads: one eviction at a time
                if len(self.remembered) >= REMEMBERED_NEEDS:
                    self.remembered.pop(next(iter(self.remembered)))
                self.remembered[need] = found
        return found


_INDEXES: weakref.WeakKeyDictionary[Backend, _Index] = weakref.WeakKeyDictionary()


def _index(backend: Backend) -> _Index:
    if backend not in _INDEXES:
        _INDEXES[backend] = _Index(backend.vocabulary)
    return _INDEXES[backend]


class _Memo:
    """Logits already computed for suggestions, by token ids, most recently used kept.

    Typing one more letter keeps the prefix and narrows the candidates to a subset of the
    last keystroke's, whose branches were computed then; a space after a word reaches the
    position that finishing the word looked at. So most keystrokes find every position they
    need here and run no model at all.
    """

    # Why 256: ~200 KB of logits each for a 49k vocabulary (50 MB), room for a few typists'
    # candidate branches and ghost continuations.
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def logits_many(self, backend: Backend, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Logits after each sequence, running the backend (as one batch) only for new ones."""
        keys = [tuple(s) for s in sequences]
        with self.lock:
            found = {key: self.entries[key] for key in keys if key in self.entries}
            for key in found:
                self.entries.move_to_end(key)
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = dict(zip(missing, backend.logits_many(missing)))
            with self.lock:
                self.entries.update(computed)
                while len(self.entries) > self.capacity:
                    self.entries.popitem(last=False)
            found.update(computed)
        return [found[key] for key in keys]

    def holds(self, sequence: Sequence[int]) -> bool:
        """Whether the logits after this sequence are remembered."""
        with self.lock:
            return tuple(sequence) in self.entries

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_MEMOS: weakref.WeakKeyDictionary[Backend, _Memo] = weakref.WeakKeyDictionary()


def memo(backend: Backend) -> _Memo:
    """The suggestion logits remembered for a backend (one per loaded model)."""
    if backend not in _MEMOS:
        _MEMOS[backend] = _Memo()
    return _MEMOS[backend]


def forget(backend: Backend) -> None:
    """Drop the suggestion logits remembered for a backend, so the next keystroke computes afresh."""
    memo(backend).clear()


def _logits(backend: Backend, prefix: Sequence[int], branches: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    return memo(backend).logits_many(backend, [[*prefix, *branch] for branch in branches])


def _cover(
    backend: Backend, prefix: list[int], remainder: str, width: int, steps: int = 3
) -> tuple[list[_Path], float]:
    """Token paths whose text starts with the remainder, best first, and the log-probability
    that the text continues with the remainder at all (to condition on the typed letters)."""
    vocabulary = backend.vocabulary
    index = _index(backend)
    done: list[_Path] = []
    beam = [_Path([], "", 0.0)]
    mass = 0.0
    for _ in range(steps):
        branches = [p.ids for p in beam]
        first = _first_shown(done, remainder)
        if first is not None:
            # The word that will be finished next is most likely the best one found so far:
            # its next position rides along in this call instead of costing a call of its own.
            branches.append(first.ids)
        logits_list = _logits(backend, prefix, branches)[: len(beam)]
        grown: list[_Path] = []
        for path, logits in zip(beam, logits_list):
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            covering, partial = index.agreeing(remainder[len(path.text) :], vocabulary)
            if covering is None:
                covering = torch.topk(logprobs, width).indices
                mass += math.exp(path.logprob)
            for tokens, into in ((covering, done), (partial, grown)):
                if not len(tokens):
                    continue
                scores = logprobs[tokens]
                if into is done and remainder[len(path.text) :]:
                    # Every covering token counts towards P(text starts with the remainder),
                    # shown or not; partial tokens count only through the paths they finish.
                    mass += float(torch.exp(scores + path.logprob).sum())
                best = torch.topk(scores, min(width, len(tokens)))
                for i, logprob in zip(best.indices.tolist(), best.values.tolist()):
                    token = int(tokens[i])
                    into.append(_Path(path.ids + [token], path.text + vocabulary[token], path.logprob + logprob))
        best_done = max((p.logprob for p in done), default=-math.inf)
        # A longer spelling of the remainder is worth a model call only if it could still
        # beat the completions already found by a reasonable margin.
        grown = [p for p in grown if p.logprob > best_done - math.log(20)]
        if len(done) >= width or not grown:
            break
        beam = sorted(grown, key=lambda p: -p.logprob)[:width]
    return sorted(done, key=lambda p: -p.logprob)[:width], math.log(max(mass, 1e-12))


def partial_word(remainder: str) -> str:
    """The letters of the word being typed at the end of the remainder ("" after a space)."""
    match = re.search(r"[\w'’-]+$", remainder)
    return match.group(0) if match else ""


def _shown(paths: list[_Path], remainder: str) -> list[_Path]:
    """Paths in the order they are offered, best first.

    After a space or punctuation a suggestion is a whole next word, not more space.
    """
    ordered = sorted(paths, key=lambda p: -p.logprob)
    if not partial_word(remainder):
        ordered = [p for p in ordered if p.text[len(remainder) :].strip()] or ordered
    return ordered


def _first_shown(paths: list[_Path], remainder: str) -> _Path | None:
    """The path suggest_words will finish: the first one offered, if it adds any text."""
    ordered = _shown(paths, remainder)
    return ordered[0] if ordered and ordered[0].text.strip() else None


def _finish_words(
    backend: Backend, prefix: list[int], paths: list[_Path], remainder: str, steps: int = 2, compute: bool = True
) -> list[_Path]:
    """Extend the most likely path greedily until its word ends, so "Gre" shows "Great", not "Grea".

    Why only the first: the others are nearly always whole-word tokens already (on a typing
    trace 7% of them grew, mostly into glued oddities such as "secondstraight"), and each
    one extended costs a model position on every keystroke. The first path's next position
    is also where the ghost continuation starts, so finishing it is work the ghost reuses.

    compute=False: extend only through positions already remembered, running no model.
    """
    open_paths = [p for p in paths[:1] if p.text.strip()]
    # The runner-up's next position rides along when the model runs anyway: if the next
    # letter makes it the likeliest, finishing it then runs no model: on the benchmark's
    # typing trace more keystrokes run no model and the slowest get faster. A third
    # candidate costs more in each call than the calls it saves.
    ride_along = [p.ids for p in paths[1:2] if p.text.strip()]
    for step in range(steps):
        if not open_paths:
            break
        branches = [p.ids for p in open_paths]
        remembered = all(memo(backend).holds([*prefix, *b]) for b in branches)
        if not remembered and not compute:
            break
        if step == 0 and not remembered:
            branches += ride_along
        logits_list = _logits(backend, prefix, branches)[: len(open_paths)]
        still_open = []
        for path, logits in zip(open_paths, logits_list):
            best = int(torch.argmax(logits))
            piece = backend.vocabulary[best]
            if best == backend.eos_token_id or starts_word(piece):
                continue
            path.logprob += float(torch.log_softmax(logits.float(), dim=-1)[best])
            path.ids.append(best)
            path.text += piece
            still_open.append(path)
        open_paths = still_open
    return paths


def suggest_words(
    backend: Backend,
    text: str,
    context: str = "",
    count: int = 5,
    min_probability: float = MIN_PROBABILITY,
    finish: bool = True,
) -> tuple[list[int], str, Suggestions, list[_Path]]:
    """Next words, or completions of the word being typed, with their probabilities.

    Returns the token ids before the typed remainder, the remainder, the words, and the
    candidate paths (the ghost continues the best).

    finish=False runs no model call to extend the best candidate to its word's end (see
    _finish_words); it is extended only as far as positions already computed reach.
    """
    prefix, remainder = _split(backend, context, text)
    partial = partial_word(remainder)
    paths, mass = _cover(backend, prefix, remainder, width=count * 2)
    paths = _finish_words(backend, prefix, _shown(paths, remainder)[:count], remainder, compute=finish)
    words, seen = [], set()
    for path in sorted(paths, key=lambda p: -p.logprob):
        append = path.text[len(remainder) :]
        shown = (partial + append).strip()
        # Probability given what is typed: the typed letters are a fact, not a guess.
        probability = math.exp(path.logprob - mass)
        if not append.strip() or shown in seen or probability < min_probability:
            continue
        seen.add(shown)
        words.append(Word(word=shown, append=append, probability=probability))
    if partial and not words and paths and not paths[0].text[len(remainder) :]:
        # The typed word is most likely finished ("she"): offer the words that follow it.
        after = suggest_words(backend, text + " ", context, count, min_probability, finish)[2].words
        words = [Word(word=w.word, append=" " + w.append, probability=w.probability) for w in after]
    return prefix, remainder, Suggestions(partial=partial, words=words[:count]), paths


def ghost_text(
    backend: Backend,
    prefix: Sequence[int],
    path: _Path,
    remainder: str,
    tokens: int = 8,
    repetition_penalty: float = 1.2,
) -> str:
    """A greedy continuation of a few tokens after the best word, up to the end of the line.

    Each step lets waiting keystrokes' words go first (Backend.yield_to_keystrokes): the
    ghost is the part of a suggestion that can arrive later, and its eight sequential
    decodes would otherwise hold the model while other people's next words wait.
    """
    ids = [*prefix, *path.ids]
    added: list[int] = []
    for _ in range(tokens):
        if not memo(backend).holds(ids):
            backend.yield_to_keystrokes()
        logits = apply_repetition_penalty(_logits(backend, ids, [[]])[0], ids, repetition_penalty)
        best = int(torch.argmax(logits))
        if best == backend.eos_token_id or "\n" in backend.vocabulary[best]:
            break
        ids.append(best)
        added.append(best)
    return path.text[len(remainder) :] + backend.decode(added)


def suggest(
    backend: Backend,
    text: str,
    context: str = "",
    count: int = 5,
    ghost_tokens: int = 8,
    min_probability: float = MIN_PROBABILITY,
    finish: bool = True,
) -> Suggestions:
    """Words and ghost text for the text typed so far (after an optional prompt context).

    The words hold the model as a keystroke (before generation steps and ghosts); the
    ghost that follows takes its turns between other people's keystrokes. finish: see
    suggest_words.
    """
    with backend.traffic.serving(keystroke=True):
        with backend.keystroke():
            prefix, remainder, result, paths = suggest_words(backend, text, context, count, min_probability, finish)
        if paths and ghost_tokens > 0:
            best = max(paths, key=lambda p: p.logprob)
            result.ghost = ghost_text(backend, prefix, best, remainder, ghost_tokens)
        return result

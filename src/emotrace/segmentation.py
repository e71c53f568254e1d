"""Segmentation: a pure function from timed words to utterances.

An utterance ends at a pause, after a word that ends a sentence, or before it would grow past
the maximum length (then it is split at its widest pause, preferring one after a comma).
Fragments with too few words to judge are then merged into the nearer neighbour when the
silence between them is short. Every utterance keeps its words with their times.

With speaker turns from two or more speakers (:mod:`emotrace.diarization`), each word goes to
the speaker who holds most of its time span, a change of speaker always ends an utterance, and
one speaker's turn stays one utterance, however many sentences it holds, unless it is longer
than the maximum or holds a silence of ``turn_pause`` seconds; fragments merge only within
one speaker's turn. With one speaker the rules above apply unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Iterable, Sequence

from .config import SegmentationOptions
from .types import Utterance, Word

if TYPE_CHECKING:
    from .diarization import Diarization

SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")
_CLAUSE_END = (",", ";", ":", "—", "–")
_CLOSERS = "\"')]}”’»"
_NO_SPACE_BEFORE = (",", ".", "!", "?", ";", ":", "…", "'", "’", "%", ")", "]", "}")


def ends_sentence(word: Word) -> bool:
    """Whether a word ends a sentence (``"life."``, ``"you?\""``)."""
    return word.text.rstrip(_CLOSERS).endswith(SENTENCE_END)


def _ends_clause(word: Word) -> bool:
    return word.text.rstrip(_CLOSERS).endswith(_CLAUSE_END)


def join_words(words: Iterable[Word]) -> str:
    """The words as text: spaces between them, none before punctuation or a split clitic."""
    out = ""
    for w in words:
        t = w.text.strip()
        if not t:
            continue
        out += t if not out or t.startswith(_NO_SPACE_BEFORE) else " " + t
    return out


def _clean(words: Iterable[Word], duration: float | None) -> list[Word]:
    """Drop empty words, order by time, clamp inside [0, duration] and make times monotonic."""
    cleaned: list[Word] = []
    last_end = 0.0
    for w in sorted((w for w in words if w.text.strip()), key=lambda w: (w.start, w.end)):
        start = max(w.start, last_end, 0.0)
        end = max(w.end, start)
        if duration is not None:
            start, end = min(start, duration), min(end, duration)
        cleaned.append(Word(start, end, w.text.strip(), w.probability))
        last_end = end
    return cleaned


def _best_split(group: Sequence[Word]) -> int:
    """Index at which to cut an over-long group: its widest pause, a comma making it wider."""
    best, best_score = len(group) - 1, -1.0
    for i in range(1, len(group)):
        gap = group[i].start - group[i - 1].end
        score = gap + (0.25 if _ends_clause(group[i - 1]) or ends_sentence(group[i - 1]) else 0.0)
        if score >= best_score:  # ties go to the later cut: the first part stays long
            best, best_score = i, score
    return best


def _split(words: Sequence[Word], o: SegmentationOptions) -> list[list[Word]]:
    groups: list[list[Word]] = []
    current: list[Word] = []
    for w in words:
        if current:
            prev = current[-1]
            if w.start - prev.end >= o.pause or (o.split_on_punctuation and ends_sentence(prev)):
                groups.append(current)
                current = []
        while current and w.end - current[0].start > o.max_duration:
            cut = _best_split(current + [w])
            if cut >= len(current):  # no better place: end the utterance before this word
                groups.append(current)
                current = []
            else:
                groups.append(current[:cut])
                current = current[cut:]
        current.append(w)
    if current:
        groups.append(current)
    return groups


def _merge_short(groups: list[list[Word]], o: SegmentationOptions) -> list[list[Word]]:
    """Merge groups of fewer than ``min_words`` words into the nearer neighbour, if close."""
    groups = [list(g) for g in groups]
    i = 0
    while i < len(groups):
        g = groups[i]
        if len(g) >= o.min_words or len(groups) == 1:
            i += 1
            continue
        options = []
        if i > 0:
            options.append((g[0].start - groups[i - 1][-1].end, i - 1))
        if i + 1 < len(groups):
            options.append((groups[i + 1][0].start - g[-1].end, i + 1))
        merged = False
        for gap, j in sorted(options):
            lo, hi = min(i, j), max(i, j)
            span = groups[hi][-1].end - groups[lo][0].start
            if gap <= o.max_merge_gap and span <= o.max_duration:
                groups[lo] = groups[lo] + groups[hi]
                del groups[hi]
                i = lo  # the merged group may itself still be short
                merged = True
                break
        if not merged:
            i += 1
    return groups


def _by_turn(words: Sequence[Word], speakers: "Diarization") -> list[tuple[str | None, list[Word]]]:
    """Runs of consecutive words said by one speaker with nobody else's turn between them."""
    runs: list[tuple[str | None, list[Word]]] = []
    last: int | None = None
    for w in words:
        turn = speakers.turn_at(w.start, w.end)
        who = None if turn is None else speakers.turns[turn].speaker
        if runs and runs[-1][0] == who and not (last is not None and turn is not None
                                                 and speakers.interrupted(last, turn)):
            runs[-1][1].append(w)
        else:
            runs.append((who, [w]))
        last = turn
    return runs


def segment(words: Iterable[Word], options: SegmentationOptions = SegmentationOptions(),
            duration: float | None = None, speakers: "Diarization | None" = None) -> list[Utterance]:
    """Group timed words into utterances.

    Args:
        words: transcribed words (any order; empty texts are dropped).
        options: pause length, maximum length, punctuation splitting, short-fragment merging.
        duration: the media's length; when given, every time is clamped inside it.
        speakers: the speaker turns, when speakers were looked for; every utterance then
            names its speaker, and with two or more speakers the turns shape the utterances.

    Returns:
        Utterances in time order, non-overlapping, each with its words; empty for no words.
    """
    cleaned = _clean(words, duration)
    if not cleaned:
        return []
    if speakers is None or len(speakers.speakers) < 2:  # one voice (or none): the usual rules
        only = speakers.speakers[0] if speakers is not None and speakers.speakers else None
        return [Utterance(g[0].start, g[-1].end, join_words(g), tuple(g), only)
                for g in _merge_short(_split(cleaned, options), options)]
    turn_options = replace(options, pause=max(options.pause, options.turn_pause), split_on_punctuation=False)
    out: list[Utterance] = []
    for speaker, run in _by_turn(cleaned, speakers):
        for g in _merge_short(_split(run, turn_options), turn_options):
            out.append(Utterance(g[0].start, g[-1].end, join_words(g), tuple(g), speaker))
    return out

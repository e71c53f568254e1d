"""Segmentation is a pure function: timed words in, utterances out."""

from __future__ import annotations

import random

import pytest

from emotrace.config import SegmentationOptions
from emotrace.errors import ConfigError
from emotrace.segmentation import ends_sentence, join_words, segment
from emotrace.types import Word


def words(spec: str, start: float = 0.0, step: float = 0.3, length: float = 0.25) -> list[Word]:
    """Words from a string; ``|`` marks a 1-second pause, ``~`` a 0.4-second one."""
    out, t = [], start
    for token in spec.split():
        if token == "|":
            t += 1.0
            continue
        if token == "~":
            t += 0.4
            continue
        out.append(Word(t, t + length, token))
        t += step
    return out


def texts(utts) -> list[str]:
    return [u.text for u in utts]


def test_no_words_no_utterances():
    assert segment([]) == []
    assert segment([Word(0.0, 0.2, "  ")]) == []


def test_splits_at_long_pauses_not_short_ones():
    utts = segment(words("so I went there ~ and then | we left together"),
                   SegmentationOptions(split_on_punctuation=False))
    assert texts(utts) == ["so I went there and then", "we left together"]


def test_splits_after_sentence_end_without_a_pause():
    utts = segment(words("I love it. Do you? Yes I do!"))
    assert texts(utts) == ["I love it.", "Do you?", "Yes I do!"]
    assert not segment(words("I love it. Do you?"), SegmentationOptions(split_on_punctuation=False))[1:]


def test_short_fragment_merges_into_the_nearer_neighbour():
    # "Oh!" is a one-word sentence right before the next one: too short to judge alone.
    utts = segment(words("Oh! I cannot believe this happened"))
    assert texts(utts) == ["Oh! I cannot believe this happened"]
    # A one-word tail after a pause joins the utterance before it.
    utts = segment(words("we should go now ~ ~ please"), SegmentationOptions(pause=0.7))
    assert texts(utts) == ["we should go now please"]


def test_isolated_short_utterance_is_kept():
    utts = segment(words("how are you doing | | Fine. | | and what about your sister"))
    assert texts(utts) == ["how are you doing", "Fine.", "and what about your sister"]


def test_min_words_one_keeps_every_fragment():
    utts = segment(words("Oh! I cannot believe it"), SegmentationOptions(min_words=1))
    assert texts(utts) == ["Oh!", "I cannot believe it"]


def test_long_speech_is_cut_before_max_duration_preferring_a_comma():
    spec = " ".join(["word"] * 20 + ["end,"] + ["more"] * 20)
    utts = segment(words(spec), SegmentationOptions(max_duration=8.0))
    assert all(u.duration <= 8.0 for u in utts)
    assert utts[0].text.endswith("end,")
    assert sum(len(u.words) for u in utts) == 41


def test_comma_is_the_preferred_cut():
    spec = " ".join(["a"] * 10 + ["b,"] + ["c"] * 10)
    utts = segment(words(spec), SegmentationOptions(max_duration=5.0))
    assert utts[0].text.endswith("b,")


def test_a_single_word_longer_than_the_maximum_stays_whole():
    utts = segment([Word(0.0, 20.0, "loooong"), Word(20.1, 20.4, "word")],
                   SegmentationOptions(max_duration=5.0, min_words=1))
    assert texts(utts) == ["loooong", "word"]


def test_words_are_kept_with_their_times_and_clamped_to_the_duration():
    ws = words("hello there my friend")
    utts = segment(ws, duration=0.8)
    assert utts[0].words[0] == ws[0]
    assert all(w.end <= 0.8 for u in utts for w in u.words)
    assert utts[-1].end <= 0.8


def test_unordered_and_overlapping_words_give_ordered_non_overlapping_utterances():
    rng = random.Random(7)
    ws = []
    t = 0.0
    for i in range(300):
        t += rng.choice([0.1, 0.2, 0.3, 0.9, 1.5])
        text = rng.choice(["yes", "no", "maybe.", "well,", "right?", "ok"])
        ws.append(Word(t, t + rng.uniform(-0.05, 0.6), text) if i % 7 else Word(t, t + 0.2, text))
    ws = [w if w.end >= w.start else Word(w.start, w.start, w.text) for w in ws]
    rng.shuffle(ws)
    utts = segment(ws, SegmentationOptions(max_duration=6.0), duration=t + 1.0)
    assert sum(len(u.words) for u in utts) == 300
    last = 0.0
    for u in utts:
        assert last <= u.start <= u.end <= t + 1.0
        assert u.words[0].start == u.start and u.words[-1].end == u.end
        assert u.duration <= 6.0 + 0.6  # a cut never lands inside a word
        last = u.end


def test_join_words_spacing():
    assert join_words([Word(0, 1, "Hello"), Word(1, 2, ","), Word(2, 3, "world"), Word(3, 4, "!")]) \
        == "Hello, world!"
    assert join_words([Word(0, 1, "I"), Word(1, 2, "'m"), Word(2, 3, "here.")]) == "I'm here."
    assert ends_sentence(Word(0, 1, 'done."')) and not ends_sentence(Word(0, 1, "well,"))


def test_options_are_validated():
    with pytest.raises(ConfigError, match="pause"):
        SegmentationOptions(pause=0)
    with pytest.raises(ConfigError, match="max_duration"):
        SegmentationOptions(max_duration=0.5)


# --- with speaker turns ------------------------------------------------------------------------

def _turns(*spans):
    from emotrace.diarization import Diarization
    from emotrace.types import SpeakerTurn

    turns = tuple(SpeakerTurn(a, b, s) for a, b, s in spans)
    return Diarization(turns, tuple(dict.fromkeys(t.speaker for t in turns)))


def test_a_speaker_change_is_always_a_boundary_even_without_a_pause():
    ws = words("hello there how are you fine thanks")  # no pause anywhere
    found = segment(ws, speakers=_turns((0.0, 1.5, "S1"), (1.5, 3.0, "S2")))
    assert [u.speaker for u in found] == ["S1", "S2"]
    assert texts(found) == ["hello there how are you", "fine thanks"]


def test_one_speakers_multi_sentence_turn_stays_one_utterance():
    ws = words("I agree. ~ It works. ~ Ship it. | No. wait please")
    turns = _turns((0.0, 3.1, "S1"), (3.1, 9.0, "S2"))
    found = segment(ws, speakers=turns)
    assert texts(found) == ["I agree. It works. Ship it.", "No. wait please"]
    assert [u.speaker for u in found] == ["S1", "S2"]
    # without speakers the same words split at every sentence end
    assert len(segment(ws)) > 2


def test_a_long_turn_is_still_cut_at_the_maximum_length():
    ws = words(" ".join(["word"] * 60))  # 18 s of one speaker
    found = segment(ws, SegmentationOptions(max_duration=8.0),
                    speakers=_turns((0.0, 18.0, "S1"), (18.0, 20.0, "S2")))
    assert len(found) >= 3 and all(u.duration <= 8.0 for u in found)
    assert {u.speaker for u in found} == {"S1"}


def test_a_word_straddling_a_change_goes_to_who_holds_most_of_it():
    ws = [Word(0.0, 0.4, "yes"), Word(0.5, 1.0, "indeed"), Word(1.1, 1.5, "no"), Word(1.6, 2.0, "way")]
    # the change falls inside "no" (1.1-1.5), whose larger part is S2's
    found = segment(ws, speakers=_turns((0.0, 1.2, "S1"), (1.2, 2.0, "S2")))
    assert texts(found) == ["yes indeed", "no way"]


def test_a_back_channel_is_not_merged_into_another_speakers_line():
    ws = words("we lost the grant this spring | okay | so the trip is cancelled")
    found = segment(ws, speakers=_turns((0.0, 1.9, "S1"), (2.7, 3.0, "S2"), (3.9, 6.0, "S1")))
    assert [u.speaker for u in found] == ["S1", "S2", "S1"] and texts(found)[1] == "okay"


def test_one_speaker_keeps_the_usual_rules_and_names_the_speaker():
    ws = words("I agree. ~ It works. ~ Ship it.")
    plain = segment(ws)
    found = segment(ws, speakers=_turns((0.0, 5.0, "S1")))
    assert texts(found) == texts(plain) and {u.speaker for u in found} == {"S1"}
    assert all(u.speaker is None for u in plain)


def test_a_turn_the_recogniser_did_not_hear_still_separates_two_lines():
    # S2 answers "yes" between S1's lines, but no word of it was transcribed
    ws = words("we lost the grant | so the trip is off")
    found = segment(ws, speakers=_turns((0.0, 1.2, "S1"), (1.5, 1.9, "S2"), (2.1, 3.6, "S1")))
    assert texts(found) == ["we lost the grant", "so the trip is off"]
    assert [u.speaker for u in found] == ["S1", "S1"]

"""A video without a sound track, with a transcript: the picture and the words are enough."""

from __future__ import annotations

import pytest

from emotrace import Pipeline, PipelineConfig
from emotrace.errors import MediaError
from emotrace.media import probe

from .conftest import FIXTURES
from .mediahelpers import FakeScorer, HashTextScorer


class RecordingVoice(FakeScorer):
    """Stands in for the voice modality; records the audio it was given."""

    name = "audio"
    model_name = "recording-voice@test"

    def __init__(self):
        super().__init__()
        self.seen = []

    def score_utterances(self, media, utterances, hook=None):
        self.seen.append(media.audio)
        return [None] * len(utterances)


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(PipelineConfig(modalities=("text", "audio")),
                    scorers={"text": HashTextScorer(), "audio": RecordingVoice()})


def test_a_video_without_audio_and_a_transcript_is_analysed(pipeline):
    video = FIXTURES / "no_audio.mp4"
    result = pipeline.analyze(video, transcript="  We made it.  ")
    assert [r.utterance.text for r in result.utterances] == ["We made it."]
    u = result.utterances[0].utterance
    assert u.start == 0.0 and u.end == pytest.approx(probe(video).duration, abs=0.05)
    assert result.metadata["has_video"] is True and result.metadata["transcript_given"]
    assert pipeline.scorers["audio"].seen[-1] is None  # no sound: the voice has nothing to judge


def test_without_a_transcript_no_audio_is_still_an_error_naming_the_file(pipeline):
    with pytest.raises(MediaError, match="no_audio.mp4: has no audio track"):
        pipeline.analyze(FIXTURES / "no_audio.mp4")

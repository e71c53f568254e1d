"""Options are validated on construction, with messages that say what is allowed."""

import pytest

from emotrace.config import TextOptions, check_choice
from emotrace.errors import ConfigError


def test_bad_values_raise_config_error_naming_the_option():
    with pytest.raises(ConfigError, match="batch_size"):
        TextOptions(batch_size=0)
    with pytest.raises(ConfigError, match="context_turns"):
        TextOptions(context_turns=-1)
    with pytest.raises(ConfigError, match="dialogue"):
        TextOptions(dialogue="no")


def test_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match="expected one of: 'json', 'csv'"):
        check_choice("format", "xml", ("json", "csv"))

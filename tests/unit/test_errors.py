"""Every error HeatWatch raises on purpose has the one root, `HeatWatchError`
(common/errors.py), so the CLI and the composition root can tell ours from a bug."""

from __future__ import annotations

import pytest

from common.errors import ConfigError, HeatWatchError, StorageError
from common.tokens import TokenError
from notifier.delivery.sending import DeliveryError
from notifier.inbound.payload import PayloadError
from notifier.inbound.silences import SilenceError
from notifier.install.graph import GraphError
from notifier.monitoring.sources import SourceError


@pytest.mark.parametrize("error", [ConfigError, StorageError, TokenError, DeliveryError,
                                   PayloadError, SilenceError, GraphError, SourceError])
def test_every_error_of_ours_is_a_heatwatch_error(error: type[Exception]) -> None:
    assert issubclass(error, HeatWatchError)


def test_a_payload_error_names_the_field_and_is_still_a_value_error() -> None:
    error = PayloadError("alerts[0].labels", "expected an object")
    assert isinstance(error, ValueError) and isinstance(error, HeatWatchError)
    assert error.field == "alerts[0].labels"
    assert str(error) == "alerts[0].labels: expected an object"

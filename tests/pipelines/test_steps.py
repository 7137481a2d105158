"""The stage machinery of `pipelines.steps`: which pipelines a step can advance, and what it refuses."""

from __future__ import annotations

import pytest

from pipelines import backfill, daily
from pipelines.steps import enqueue_stage, stages_of


def test_each_pipeline_module_registers_its_own_stages():
    # Given the daily and backfill pipelines imported
    # When the step machinery looks their stages up by name
    # Then it finds each module's own table
    assert stages_of("daily") is daily.STAGES
    assert stages_of("backfill") is backfill.STAGES


def test_a_run_of_a_pipeline_nobody_registered_is_refused_naming_it_and_the_known_ones():
    # Given params naming a pipeline no module registered
    # When its first stage is enqueued
    with pytest.raises(LookupError) as refused:
        enqueue_stage("run-x", 0, {"pipeline": "weekly"})
    # Then nothing is enqueued and the error names the pipeline and those that exist
    assert "'weekly' is not registered" in str(refused.value)
    assert "backfill" in str(refused.value) and "daily" in str(refused.value)

"""Great Expectations: the suites in ``expectations/`` validate the rule results.

GX SQL data sources on DuckDB return no rows (docs/design.md, known pitfalls), so the rules
and checks compute in DuckDB and GX validates their small results through a pandas data
source: one row, one column per GDPR rule (its violation count) or data-quality check (its
metric). GX therefore never sees a person's data, and neither can the Data Docs it renders
under ``<home>/reports/data_docs/``. The GX project (stores, validation history) lives in
``<home>/gx/``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from socle.config import EXPECTATIONS_DIR, Paths

GDPR_SUITE = "gdpr"
QUALITY_SUITE = "data_quality"
SITE_NAME = "socle_data_docs"
DATASOURCE = "socle_gates"
ASSET = "gate_results"
SEVERITY_TO_GX = {"fail": "critical", "warn": "warning"}


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict: the column it checked, success, its configuration."""

    column: str
    success: bool
    expectation: dict


def suite_definition(name: str) -> dict:
    """A suite as committed in ``expectations/<name>.json``."""
    return json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())


def _quiet_context(root: Path):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no network calls from a gate
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.analytics_enabled = False
    return context


def _ensure_site(context, data_docs: Path) -> None:
    config = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    sites = context.variables.data_docs_sites or {}
    if sites.get(SITE_NAME) != config:  # first run, or the data home moved
        if SITE_NAME in sites:
            context.delete_data_docs_site(SITE_NAME)
        context.add_data_docs_site(site_name=SITE_NAME, site_config=config)
    for other in [s for s in context.get_site_names() if s != SITE_NAME]:
        context.delete_data_docs_site(other)  # the default site would render under gx/, unseen


def _suite(name: str, severities: dict[str, str]):
    from great_expectations.core import ExpectationSuite

    definition = suite_definition(name)
    for expectation in definition["expectations"]:
        column = expectation["kwargs"]["column"]
        # The committed severity.yml decides; GDPR rules always block.
        expectation["severity"] = SEVERITY_TO_GX[severities.get(column, "fail")]
    definition.pop("id", None)
    return ExpectationSuite(**definition)


def validate(
    paths: Paths,
    gdpr_counts: dict[str, int | None],
    quality_metrics: dict[str, float | None],
    severities: dict[str, str],
    *,
    run_name: str | None = None,
) -> dict[str, Outcome]:
    """Validate the results with both suites in one checkpoint, publish Data Docs.

    The batch is one row: a column per rule (violation count, ``None`` when the rule could
    not be computed, which fails) and a column per check (its metric, ``None`` when its
    table does not exist, which passes). Returns the outcome of each expectation by column.
    """
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.run_identifier import RunIdentifier

    context = _quiet_context(paths.home)
    _ensure_site(context, paths.data_docs)
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    asset = source.add_dataframe_asset(ASSET)
    batch = asset.add_batch_definition_whole_dataframe("build")
    definitions = [
        context.validation_definitions.add_or_update(
            # The committed JSON is the truth: the stored suite is replaced on every run.
            gx.ValidationDefinition(
                name=name,
                data=batch,
                suite=context.suites.add_or_update(_suite(name, severities)),
            )
        )
        for name in (GDPR_SUITE, QUALITY_SUITE)
    ]
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name="socle_gates",
            validation_definitions=definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    row = {**gdpr_counts, **quality_metrics}
    frame = pd.DataFrame([row]).astype("Float64")
    # The gate run id names the Data Docs page, so a report line leads to its validation.
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    outcomes: dict[str, Outcome] = {}
    for run_result in result.run_results.values():
        for item in run_result.results:
            config = item.expectation_config.to_json_dict()
            column = config["kwargs"]["column"]
            outcomes[column] = Outcome(column, bool(item.success), config)
    missing = set(row) - set(outcomes)
    if missing:
        raise RuntimeError(f"no expectation in expectations/*.json for: {sorted(missing)}")
    return outcomes

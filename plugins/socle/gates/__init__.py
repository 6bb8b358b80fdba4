"""GDPR and data-quality gates on the build database (docs/design.md, 'GDPR rules').

``run_gates()`` validates the build and records the verdict; ``enforce(report)`` raises
``GateFailure`` naming each failing rule and its count. Nothing here ever logs, raises or
renders an identifier: rules return pseudonymous keys and counts only.
"""

from socle.gates.core import CheckResult, GateFailure, GateReport, RuleResult, enforce, run_gates, seal_path
from socle.gates.rules import RULES

__all__ = [
    "RULES",
    "CheckResult",
    "GateFailure",
    "GateReport",
    "RuleResult",
    "enforce",
    "run_gates",
    "seal_path",
]

"""Customer tiers: value tiers and grids, RFM scores and segments, lifecycle stages, churn
warning, tier migration, playbook actions and tier profiles.

Each function takes tidy frames indexed by ``customer_id`` (scored customers per docs/DATA.md)
and plain parameters, and returns a small result dataclass holding tidy frames plus the
definitions it used, so reports can print both. Nothing here plots or reads files.
"""
from clvkit.tiers.migration import MigrationResult, tier_migration
from clvkit.tiers.playbook import PlaybookResult, assign_actions, check_playbook, playbook_gaps
from clvkit.tiers.profiles import ProfileResult, tier_profiles
from clvkit.tiers.rfm import (DEFAULT_SEGMENTS, ClusterResult, SegmentResult, SegmentRule,
                              RFM8_CLASSES, kmeans_segments, parse_segments, quantile_score,
                              rfm8_segments, rfm_scores, rfm_segments, score_bound_positions,
                              score_from_bounds)
from clvkit.tiers.stages import STAGES, StageResult, StageRules, lifecycle_stages
from clvkit.tiers.value import (GridResult, TierResult, assign_tiers, check_grid_rules,
                                parse_rules, quantile_cuts, ranked_cut, threshold_cuts,
                                tier_bounds, tier_codes, tier_grid)
from clvkit.tiers.warning import WarningResult, churn_warning

__all__ = ["DEFAULT_SEGMENTS", "RFM8_CLASSES", "STAGES", "ClusterResult", "GridResult", "MigrationResult",
           "PlaybookResult", "ProfileResult", "SegmentResult", "SegmentRule", "StageResult",
           "StageRules", "TierResult", "WarningResult", "assign_actions", "assign_tiers",
           "check_grid_rules", "check_playbook", "churn_warning", "kmeans_segments",
           "lifecycle_stages", "parse_rules", "parse_segments", "playbook_gaps", "quantile_cuts",
           "quantile_score", "ranked_cut", "rfm8_segments", "rfm_scores", "rfm_segments",
           "score_bound_positions",
           "score_from_bounds", "threshold_cuts", "tier_bounds", "tier_codes", "tier_grid",
           "tier_migration", "tier_profiles"]

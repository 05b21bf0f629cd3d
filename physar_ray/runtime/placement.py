"""One placement group for a set of actors, one bundle each, every actor pinned to its bundle by index.

Reserving them all at once is gang scheduling: the work starts only when every actor fits, and an
autoscaler sees the whole request. Inside a placement group already (a Ray Tune trial, whose bundle
0 is the trial's driver) the group is used from bundle 1 on and belongs to its owner. With captured
but unpinned actors, a small actor can land in a larger actor's bundle and leave that one
unschedulable; so each actor asks for its bundle by index, and a replaced actor goes back into the
bundle of the one it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BundleGroup:
    """A placement group (or none: actors then get their resources only) whose bundles start at ``offset``."""

    def __init__(self, group: Any = None, offset: int = 0) -> None:
        self.group, self.offset = group, offset

    @classmethod
    def reserve(cls, bundles: Sequence[dict[str, float]], timeout_s: float, what: str, fix: str) -> BundleGroup:
        """The current placement group (after its driver bundle), else a new PACK group of ``bundles``, waiting
        at most ``timeout_s``; ``what`` and ``fix`` name the actors and the knobs in the error."""
        from ray.util import get_current_placement_group, placement_group, remove_placement_group

        current = get_current_placement_group()
        if current is not None:
            return cls(current, offset=1)
        group = placement_group(list(bundles), strategy="PACK")
        if not group.wait(timeout_s):
            remove_placement_group(group)
            raise RuntimeError(f"{what} ({list(bundles)}) could not all be placed within {timeout_s:g} s: the cluster "
                               f"is short of CPUs/GPUs (an autoscaler may still be adding nodes); {fix}")
        return cls(group)

    def pin(self, options: dict[str, Any], index: int) -> dict[str, Any]:
        """``options`` of an actor, pinned to bundle ``index`` (counted from ``offset``) when there is a group."""
        if self.group is None:
            return options
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return {**options, "scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=self.group, placement_group_bundle_index=self.offset + index)}

    def release(self) -> None:
        """Remove a group reserved here (a Tune trial's group belongs to Tune)."""
        if self.group is not None and self.offset == 0:
            from ray.util import remove_placement_group

            remove_placement_group(self.group)

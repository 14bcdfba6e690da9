# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one percentile definition of ktune's benchmarks (tokens/s curves and serving SLOs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def percentile(values, pct):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    if rank == low or ordered[low] == ordered[high]:
        # No interpolation on a rank or between equal values, so failed requests ranked worst
        # (infinite) give inf, never nan (inf - inf).
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

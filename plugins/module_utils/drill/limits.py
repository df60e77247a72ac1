# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bounds of the drill's load, in one place.

drill_load, the load engine and the dr_drill role all check their inputs against these numbers.  The role
cannot import Python, so roles/dr_drill/vars/main.yml carries a copy (``dr_drill__limits``) that
tests/unit/plugins/module_utils/drill/test_limits.py compares with ``LIMITS``: changing a number here
without the copy (or the other way round) fails that test.
"""

# A drill is a bounded exercise: 10000 requests/s is well above what one controller's engine sends (and what
# a region's rate limit admits); 6 hours covers any soak, and keeps a typo (1000000000) from never ending.
MAX_QPS = 10000
MAX_DURATION = 21600
# The DNS watcher times GTM's detection to its own interval: above 1 s it would blur the figure it measures.
MAX_DNS_WATCH_INTERVAL = 1.0
MIN_ABORT_AFTER_SECONDS = 1

LIMITS = {
    'max_qps': MAX_QPS,
    'max_duration': MAX_DURATION,
    'max_dns_watch_interval': MAX_DNS_WATCH_INTERVAL,
    'min_abort_after_seconds': MIN_ABORT_AFTER_SECONDS,
}

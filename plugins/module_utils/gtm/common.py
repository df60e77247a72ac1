# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared parts of the GTM 3.0 modules (gtm_monitor, gtm_pool, gtm_domain, gtm_info).

Everything here works on plain dicts: API bodies (wire names, as ``AlibabaCloudModule.call`` returns
them) go in, snake_case views and change plans come out.  A ``call`` argument is any
``call(action, **params) -> body`` function.  This file: paging, value conversion, host names, and
how concurrent runs agree on one object of a name.
"""

import json
import re

LB_STRATEGIES = ['weight', 'round_robin', 'sequence', 'source_nearest']
SEQUENCE_MODES = ['preemptive', 'non_preemptive']
RR_POOL_TYPE = {'A': 'IPv4', 'AAAA': 'IPv6', 'CNAME': 'domain'}


def items(body, container, item):
    """``body[container][item]`` as a list (the API wraps every list in two levels)."""
    value = (body or {}).get(container) or {}
    if isinstance(value, dict):
        value = value.get(item) or []
    return list(value or [])


def list_all(call, action, container, item, page_size=100, **filters):
    """Every item of a paginated List* operation."""
    found, page = [], 1
    while True:
        body = call(action, PageNumber=page, PageSize=page_size, **filters)
        batch = items(body, container, item)
        found.extend(batch)
        total_pages = body.get('TotalPages')
        if not batch or len(batch) < page_size or (total_pages is not None and page >= int(total_pages)):
            return found
        page += 1


def parse_json(text):
    """ExtendInfo and friends: a JSON object string (or already a dict) -> dict; empty -> {}."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def to_int(value):
    try:
        return int(value) if value not in (None, '') else None
    except (TypeError, ValueError):
        return None


def enable_str(flag):
    return 'enable' if flag else 'disable'


def diff_fields(desired, current, keys):
    """Names of ``keys`` whose desired value is set (not None) and differs from current."""
    return [k for k in keys if desired.get(k) is not None and desired.get(k) != current.get(k)]


def oldest(found, id_key):
    """Of several objects with one name, the one every concurrent run agrees to keep.

    Two runs that both found nothing and both created an object see, on re-reading by name,
    the same set ordered the same way: the oldest (CreateTimestamp, in every List/Describe
    model of GTM 3.0; then the id) was there first and never changes, so each run keeps it and
    deletes only what it created itself if that is not it.
    """
    return min(found, key=lambda o: (to_int(o.get('CreateTimestamp')) or 0, str(o.get(id_key) or '')))


def settle(found, created_id, id_key):
    """``(keep_id, delete_ids)`` after this run created ``created_id`` among ``found`` namesakes."""
    if not found:
        return created_id, []
    keep = oldest(found, id_key)[id_key]
    ids = [o.get(id_key) for o in found]
    return keep, ([created_id] if created_id != keep and created_id in ids else [])


def find_by_name(found, name, name_key, what):
    """The one item whose ``name_key`` equals ``name`` (List filters are fuzzy); None if none."""
    matches = [i for i in found if i.get(name_key) == name]
    if len(matches) > 1:
        raise ValueError('%d %ss are named %s; names must be unique for this module to manage them'
                         % (len(matches), what, name))
    return matches[0] if matches else None


# Host names: RFC 1123 section 2.1 (RFC 952 labels, a digit allowed first): labels of 1-63 letters, digits
# and hyphens, neither starting nor ending with a hyphen, at most 253 characters in all.
HOST_LABEL = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
HOST_NAME_MAX = 253


def hostname_error(value, wildcard=False, apex=False):
    """Why ``value`` is not an RFC 1123 host name (optionally ``*.``-prefixed, or ``@``), or None."""
    if apex and value == '@':
        return None
    labels = (value or '').split('.')
    if wildcard and labels[0] == '*' and len(labels) > 1:
        labels = labels[1:]
    elif wildcard and value == '*':
        return None
    if not value or len(value) > HOST_NAME_MAX or not all(HOST_LABEL.match(label) for label in labels):
        return ('%r is not a host name (RFC 1123: labels of letters, digits and -, at most 63 characters each, '
                'not starting or ending with -)' % (value,))
    return None

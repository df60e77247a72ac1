# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The region-failure drill: load engine, analysis and report.

- ``load``: an open-loop asyncio HTTP/1.1 load engine with per-connection DNS and a compact
  per-request record.
- ``backends``: the built-in engine, fortio (``-json``) and hey (``-o csv``) behind one result schema.
- ``analysis``: pure functions from records + fault time + GTM observations to a timeline,
  detection/recovery times, a per-region split and an SLO verdict.
- ``report``: the JSON journal (keys modelled on the Chaos Toolkit journal), a Markdown summary and
  a PNG timeline.
"""

# Written into every journal; bumped with galaxy.yml.
COLLECTION_VERSION = '0.1.0'

# Version of the load results file / journal layout, so readers can refuse what they do not know.
RESULTS_SCHEMA = 1

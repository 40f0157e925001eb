"""JupyterHub configuration of the course hub.

`make hub` (``dataethics hub up``) starts JupyterHub with this file and points
``DATAETHICS_HUB_SETTINGS`` at the hub's ``settings.json``; everything else is in
``dataethics.hub.config.configure`` so that the tests, the benchmark and this file agree.
For The Littlest JupyterHub or Zero to JupyterHub use the snippets beside this file instead.
"""

import os
import sys

from dataethics.hub.config import HubSettings, configure

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader

_settings = os.environ.get("DATAETHICS_HUB_SETTINGS")
if not _settings:
    sys.exit("error: start the course hub with `make hub` (DATAETHICS_HUB_SETTINGS is not set)")
configure(c, HubSettings.load(_settings))

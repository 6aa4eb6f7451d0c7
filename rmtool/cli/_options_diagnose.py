"""``rmtool diagnose``'s own options, declared once (docs/diagnose.md).

The evidence: ``--log`` (the Realm's event log) with ``--images`` (files the log's
digests may name) and the image store; without a log the search's limits; ``--corim``
for the platform part (issue 16). The
token-verification options are ``token verify``'s (:mod:`rmtool.cli._options`).
"""

from __future__ import annotations

import click

from rmtool.cli._option_groups import option_group
from rmtool.diagnose.engine import DiagnoseSettings

#: a search without a log ends here unless --deadline says otherwise (walkthrough: an
#: unexplained token used to search for minutes with no bound but the candidate count)
DEFAULT_DEADLINE_S = 300.0

diagnose_options = option_group(DiagnoseSettings, "settings", [
    click.option("--log", "log", type=click.Path(dir_okay=False),
                 help="The Realm's event log: its facts (VM VERSION, REALM_CREATE, RIPAS "
                      "ranges, image digests, DTB) name the causes (evidence \"log\")."),
    click.option("--images", "images", multiple=True, type=click.Path(),
                 help="Directory, sha256sum/sha512sum file or single image file "
                      "(repeatable): names the file a log digest is (kernel, initrd, "
                      "firmware, DTB), and the images a search tries."),
    click.option("--store", type=click.Path(dir_okay=False),
                 help="Image-store database (default: in the user cache directory)."),
    click.option("--index-map", type=click.Choice(["auto", "pcr", "mr"]), default="auto",
                 show_default=True, help="With --log: event index to register mapping."),
    click.option("--jobs", type=click.IntRange(1, 256),
                 help="Worker processes for hashing and the search (default: all cores)."),
    click.option("--max-candidates", type=click.IntRange(1, 10_000_000), default=100_000,
                 show_default=True, help="Without --log: stop the search after this many "
                                         "candidate configurations."),
    click.option("--corim", "corims", multiple=True, type=click.Path(dir_okay=False),
                 help="CoRIM with CCA platform reference values (repeatable): the token's "
                      "platform components, config and lifecycle are compared as by `rmtool "
                      "appraise` (JSON key platform); a platform problem is never a match."),
    click.option("--deadline", "deadline_s", type=click.FloatRange(0.1, 86_400.0),
                 default=DEFAULT_DEADLINE_S, show_default=True,
                 help="Without --log: stop the search after this many seconds (the "
                      "verdict is then UNEXPLAINED, not exhausted)."),
])

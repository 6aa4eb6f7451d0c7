"""rmtool.diagnose: say why an attestation failed (issue "rmtool diagnose").

Given a CCA attestation token and the ``rmtool measure`` arguments of the Realm its owner
expected, name the VMM parameters, images or host capabilities that differ, with evidence
from the Realm's event log ("log"), from a search of the expected configuration's
neighbourhood ("search") or from the token's own claims ("claim"). The result model and
its JSON contract are in :mod:`rmtool.diagnose.model` (docs/diagnose.md).
"""

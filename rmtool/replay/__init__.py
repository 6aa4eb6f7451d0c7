"""Event-log replay: rebuild a Realm's RIM and REMs from its event log, event by event.

Spec: docs/measurement-log.md (the format as rmtool reads and writes it), after the
reference tool's VMM-written RIM log (cca-realm-measurements ``docs/measurement-log.md``,
``src/event_log.rs``) and EDK2's CCA index convention
(``MdePkg/Include/Protocol/CcMeasurement.h``). Modules: :mod:`.engine` (log → operations →
Realm model), :mod:`.cca` (the CCA payloads), :mod:`.indexmap` (index → register),
:mod:`.store` (SQLite image store and ``--images``), :mod:`.dtbgen` (DTB regeneration,
digest-checked), :mod:`.emit` (``measure --emit-log``).

Library entry point::

    replay_log(data: bytes, images: list[str], *, index_map="auto", store=None,
               dtb_templates=(), rmm_version="1.0-rel0", hash_algo=None) -> ReplayResult

* ``images``: checksum files (sha256sum/sha512sum output) or directories.
* ``index_map``: ``"auto"``, ``"pcr"`` or ``"mr"`` (see :mod:`.indexmap`).
* ``store``: an :class:`ImageStore`, a database path, or None (the user cache dir).
* ``dtb_templates``: DTB files or ``NAME<TAB>VERSION<TAB>FILE`` list files.

``ReplayResult`` fields: ``rim`` (bytes at hash size, or None when the RIM cannot be
rebuilt — ``rim_error`` names the event), ``rems`` (4 values, None for a REM that cannot
be computed — see ``errors``), ``hash_algo``, ``index_map`` (+ ``index_map_reason``),
``events`` (one :class:`EventRow` per log event: ``number``, ``offset``, ``index``,
``register``, ``type``, ``description``, ``digest``, ``image``, ``value_after``, and the
running ``rim_after`` / ``rems_after`` (list of 4 hex strings) so a caller can find after
which event a token's REM stops being explained), ``unknown_digests``, ``operations``
(the ops fed to the Realm model, ``origin`` = ``"event N (WHAT)"``), ``vm_version``
(with the detected layout), ``warnings``. ``result.as_json()`` is the CLI's JSON
contract; ``result.ok`` is True when every register was computed.
Raises :class:`ReplayInputError` (exit 2) for input that cannot be replayed at all, and
its subclass :class:`NotARealmLog` (with a ``hint``) for a log that is not an Arm CCA
Realm's (a TPM or other CC event log; see :class:`rmtool.replay._cca.RealmLogCheck`).
"""

from __future__ import annotations

from rmtool.replay._engine import (
    EventRow,
    NotARealmLog,
    ReplayInputError,
    ReplayResult,
    replay_log,
)
from rmtool.replay._store import ImageStore, ReferenceImages

__all__ = ["EventRow", "ImageStore", "NotARealmLog", "ReferenceImages", "ReplayInputError",
           "ReplayResult", "replay_log"]

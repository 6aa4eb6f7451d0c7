"""rmtool: Arm CCA Realm attestation toolkit.

measure (RIM/REM from a VMM command line), replay (event logs), compare/verify
(attestation tokens, CoRIM) and endorse (CoRIM/CoMID for Veraison).
"""

__version__ = "0.1.0"

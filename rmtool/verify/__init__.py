"""rmtool.verify: by subject, ``token/``, ``corim/``, ``compare/``; one COSE_Sign1 module
(``cose``) and one hardened CBOR decoding policy (``cbor``)."""

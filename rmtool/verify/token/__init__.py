"""CCA attestation tokens: claims (``claims``), decoding and building (``codec``) and the
named verification checks (``checks``)."""

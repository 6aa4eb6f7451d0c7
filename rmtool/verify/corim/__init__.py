"""CoRIM / CoMID: CBOR model (``model``), realm reference values (``realm``), CoMID JSON
(``comid_json``), lint (``lint``), signing (``sign``) and Veraison submission (``submit``)."""

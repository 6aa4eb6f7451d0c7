"""Offline appraisal of CCA tokens against CoRIM endorsements, as Veraison's arm-cca scheme
would conclude (docs/appraise.md)."""

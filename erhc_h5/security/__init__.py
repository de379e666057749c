"""Protection of personal data: column encryption, blind indexes, empi, masking."""

"""The e-health card: its models, the one writer of its record versions (the resident journey and the
bulk import alike), its links to app accounts and their assurance levels, and link notices."""

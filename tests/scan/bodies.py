"""Request bodies for fuzzing the scan endpoints: raw bytes, any JSON value, and objects shaped like the
endpoint's own body."""
from __future__ import annotations

import json

from hypothesis import strategies as st

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=120),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12)


def bodies(fields: dict) -> st.SearchStrategy[bytes]:
    """Raw bytes, any JSON, or a JSON object with ``fields`` (name: strategy of its value)."""
    return st.one_of(st.binary(max_size=300), ANY_JSON.map(lambda v: json.dumps(v).encode()),
                     st.fixed_dictionaries(fields).map(lambda v: json.dumps(v).encode()))

"""Surviving mutants that are equivalent: no caller can see the change.

``EQUIVALENT[area][mutant] = (text of the mutated line, why it changes nothing)``. The
mutant's name is mutmut's (``x_<function>__mutmut_<n>`` or ``xǁ<Class>ǁ<method>__mutmut_<n>``,
numbered in source order); ``run.py`` checks that the mutated line still contains the
text, so an entry outlives neither a code change that renumbers the mutants nor a new
test that kills it (both are reported as stale). A survivor not listed here is a missing
test until shown otherwise.
"""

from __future__ import annotations

EQUIVALENT: dict[str, dict[str, tuple[str, str]]] = {}

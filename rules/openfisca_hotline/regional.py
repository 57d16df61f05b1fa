"""Access to each household's regional parameters from inside a formula.

Parameters are kept per region (parameters/regions/<name>_<code>/) so that a region's officer
reads and verifies one folder against one document. OpenFisca's built-in fancy indexing
(`parameters.regions[region_array]`) only works on nodes whose subtrees all have the same shape
at every level, which a region folder (dibao, tekun, temporary …) does not, so the lookup by
region is done here, once per distinct region.
"""

from __future__ import annotations

import numpy
from openfisca_core.parameters import ParameterNodeAtInstant

from rules.openfisca_hotline.enums import Region

_REGION_NAMES = [region.name for region in Region]


class RegionalParameters:
    """`rules.dibao.standard_urban_monthly` → one value per entity, from that entity's region."""

    def __init__(self, nodes: list, index: numpy.ndarray) -> None:
        self._nodes = nodes  # one parameter node per distinct region
        self._index = index  # for each entity, the position of its region in `_nodes`

    def __getattr__(self, name: str):
        children = [getattr(node, name) for node in self._nodes]
        if isinstance(children[0], ParameterNodeAtInstant):
            return RegionalParameters(children, self._index)
        return numpy.asarray(children)[self._index]


def region_rules(household, period, parameters) -> RegionalParameters:
    """The parameters of each household's region. `household` may also be a person's
    `person.household` projector, giving one value per person."""
    regions = numpy.asarray(household("region", period))
    if (regions == regions[0]).all():  # the usual case: one household, or one region
        distinct, index = regions[:1], numpy.zeros(len(regions), dtype=int)
    else:
        distinct, index = numpy.unique(regions, return_inverse=True)
    node = parameters(period).regions
    return RegionalParameters([node[_REGION_NAMES[i]] for i in distinct], index)

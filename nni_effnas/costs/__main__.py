"""``python -m nni_effnas.costs``: the cost correlation table (see :mod:`nni_effnas.costs.correlation`)."""
from nni_effnas.costs.correlation import main

main()

"""`python -m yt8m_lib …` is the same as the `yt8m …` console script."""

from yt8m_lib.cli import main

raise SystemExit(main())

"""The sweep pages: the form and its links (`form`), running one as a comparison of its own
Kind with its live view (`running`), the pages and saved sweeps (`pages`), the chart's
geometry (`chart`) and `POST /api/sweep` (`api`).
"""

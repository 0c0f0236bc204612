"""whiskey-report: summary, figures and a self-contained HTML page of a whiskey benchmark run."""

__version__ = "0.1.0"

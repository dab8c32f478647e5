"""One module per lint rule, each declaring its RULE (code, name, severity, summary, why it
matters, how to fix, example, known limits) and its ``check``; cnncalc/lint/catalogue.py
lists them. A rule module can be imported alone (``cnncalc analyze`` runs CC001 only).
"""

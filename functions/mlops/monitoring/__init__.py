"""Monitoring: the reference profile written at training time, and drift checks of captured traffic
against it. numpy and pydantic only, never scikit-learn or scipy: the drift function imports this
package with the inference layer."""

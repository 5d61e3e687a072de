"""The README's "From scikit-learn" example runs as printed: a Pipeline
(StandardScaler + fastnn.sklearn.MLPClassifier) inside GridSearchCV."""

import re
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(title):
    text = README.read_text()
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_readme_pipeline_in_grid_search_runs(capsys):
    blocks = section_code("From scikit-learn")
    assert blocks[0].startswith("from fastnn.sklearn import MLPClassifier, MLPRegressor")
    scope = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(blocks[0] + blocks[1], str(README), "exec"), scope)
    search = scope["search"]
    assert isinstance(search, GridSearchCV)
    assert type(search.best_estimator_[-1]).__module__.startswith("fastnn.sklearn.")
    assert search.score(scope["X_test"], scope["y_test"]) > 0.95
    assert "mlpclassifier__alpha" in capsys.readouterr().out

"""The recipe files (recipes/*.toml), installed as the data package derive.recipe_files.

They are read with importlib.resources by derive/recipes.py; this file only makes
the folder a regular package, so that it installs and loads the same everywhere.
"""

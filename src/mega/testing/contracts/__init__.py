"""Reusable driver suites: one per family, written against the contract, never naming a driver.

A plugin's driver runs the same suite as the built-ins: subclass the suite in a test module and give
it the fixture it asks for (see each module's docstring).
"""

"""The gateway's decisions, as services that views find by class."""

from pyramid.config import Configurator

from wimslti.services.launch import LaunchService
from wimslti.services.launch import factory as launch_factory
from wimslti.services.wims_connector import WimsConnector
from wimslti.services.wims_connector import factory as wims_connector_factory

__all__ = ["LaunchService", "WimsConnector"]


def includeme(config: Configurator) -> None:
    config.register_service_factory(wims_connector_factory, iface=WimsConnector)
    config.register_service_factory(launch_factory, iface=LaunchService)

# A python-dbusmock template: the stock bluez5 template plus one fix so that bluez-async (the
# D-Bus layer under btleplug) can parse the mock's introspection data.
#
# dbusmock lists child <node> elements before the property-only <interface> elements it appends,
# and bluez-async's XML parser then fails with "duplicate field interface". bluetoothd emits the
# nodes last; so do we.

from xml.etree import ElementTree

import dbus
import dbus.service
from dbusmock.mockobject import DBusMockObject
from dbusmock.templates.bluez5 import *  # noqa: F401,F403  (BUS_NAME, MAIN_OBJ, load, ...)

_original_introspect = DBusMockObject.Introspect


@dbus.service.method(dbus.INTROSPECTABLE_IFACE,
                     in_signature='',
                     out_signature='s',
                     path_keyword='object_path',
                     connection_keyword='connection')
def _introspect_nodes_last(self, object_path, connection):
    xml = _original_introspect(self, object_path, connection)
    tree = ElementTree.fromstring(xml)
    nodes = [child for child in list(tree) if child.tag == 'node']
    for node in nodes:
        tree.remove(node)
        tree.append(node)
    return ElementTree.tostring(tree, encoding='unicode')


DBusMockObject.Introspect = _introspect_nodes_last

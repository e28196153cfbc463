#!/usr/bin/python3
"""A mocked BlueZ on a private D-Bus, for Pumpside's integration tests.

Started by the Rust test (tests/it/bluez.rs) with Debian's python3 and python3-dbusmock. It
starts its own dbus-daemon, runs python-dbusmock's bluez5 template (with the fix in
bluez_gatt_template.py), and builds one adapter with the devices and GATT objects described by
the JSON on the first line of stdin. Then it prints "READY <bus address>" and answers one
command per line:

  notify <address> <characteristic uuid> <hex>   push a notification (the Value property)
  wait-notifying <address> <uuid> <seconds>      until the app has called StartNotify
  drop <address>                                 link loss: Connected/ServicesResolved false
  calls <address> <method>                       how often the app called a Device1 method
  quit                                           stop the mock and the bus, then exit

Every answer is one line, "OK ..." or "ERR ...". End of stdin is the same as quit, so the bus
and the mock never outlive the test.
"""

import json
import os
import subprocess
import sys
import time

import dbus
from dbusmock import DBusTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = 'org.freedesktop.DBus.Mock'
BLUEZ_MOCK = 'org.bluez.Mock'
DEVICE = 'org.bluez.Device1'
SERVICE = 'org.bluez.GattService1'
CHAR = 'org.bluez.GattCharacteristic1'
OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager'

CONNECT = ("self.UpdateProperties('org.bluez.Device1', {"
           "'Connected': dbus.Boolean(True, variant_level=1), "
           "'ServicesResolved': dbus.Boolean(True, variant_level=1)})")
# As bluetoothd does, a disconnection also ends every notification subscription of the device
# (method code runs inside the mock, where `objects` is dbusmock's table of object paths).
DISCONNECT = """
self.UpdateProperties('org.bluez.Device1', {
    'Connected': dbus.Boolean(False, variant_level=1),
    'ServicesResolved': dbus.Boolean(False, variant_level=1)})
for path, obj in list(objects.items()):
    if path.startswith(self.path + '/') and 'org.bluez.GattCharacteristic1' in obj.props:
        obj.UpdateProperties('org.bluez.GattCharacteristic1',
                             {'Notifying': dbus.Boolean(False, variant_level=1)})
"""
START_NOTIFY = ("self.UpdateProperties('org.bluez.GattCharacteristic1', "
                "{'Notifying': dbus.Boolean(True, variant_level=1)})")
STOP_NOTIFY = ("self.UpdateProperties('org.bluez.GattCharacteristic1', "
               "{'Notifying': dbus.Boolean(False, variant_level=1)})")
READ_VALUE = "ret = self.props['org.bluez.GattCharacteristic1']['Value']"


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def byte_array(hex_text):
    return dbus.Array([dbus.Byte(b) for b in bytes.fromhex(hex_text)], signature='y',
                      variant_level=1)


class Mock:
    def __init__(self, spec):
        self.bus_pid, address = DBusTestCase.start_dbus()
        self.address = address
        os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = address
        self.server = subprocess.Popen(
            [sys.executable, '-m', 'dbusmock', '--system', '--template',
             os.path.join(HERE, 'bluez_gatt_template.py')],
            stdout=subprocess.DEVNULL)
        self.bus = dbus.bus.BusConnection(address)
        deadline = time.time() + 10
        while True:
            try:
                self.bus.get_object('org.bluez', '/').Introspect(
                    dbus_interface='org.freedesktop.DBus.Introspectable')
                break
            except dbus.exceptions.DBusException:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.root = dbus.Interface(self.bus.get_object('org.bluez', '/'), MOCK)
        bluez = dbus.Interface(self.bus.get_object('org.bluez', '/'), BLUEZ_MOCK)
        bluez.AddAdapter('hci0', 'pumpside-test')
        self.devices = {}
        self.chars = {}
        for dev in spec['devices']:
            self.add_device(bluez, dev)

    def obj(self, path, iface=MOCK):
        return dbus.Interface(self.bus.get_object('org.bluez', path), iface)

    def announce(self, path, iface, props):
        self.root.EmitSignal(OBJECT_MANAGER, 'InterfacesAdded', 'oa{sa{sv}}',
                             [dbus.ObjectPath(path), {iface: props}])

    def add_device(self, bluez, dev):
        address = dev['address']
        path = str(bluez.AddDevice('hci0', address, dev['name']))
        self.devices[address] = path
        device = self.obj(path)
        device.UpdateProperties(DEVICE, {
            'UUIDs': dbus.Array([s['uuid'] for s in dev['services']], signature='s',
                                variant_level=1),
            'RSSI': dbus.Int16(dev.get('rssi', -60), variant_level=1),
        })
        device.AddMethod(DEVICE, 'Connect', '', '', CONNECT)
        device.AddMethod(DEVICE, 'Disconnect', '', '', DISCONNECT)
        handle = 1
        for svc in dev['services']:
            spath = f'{path}/service{handle:04x}'
            handle += 1
            sprops = {
                'UUID': dbus.String(svc['uuid'], variant_level=1),
                'Primary': dbus.Boolean(True, variant_level=1),
                'Device': dbus.ObjectPath(path, variant_level=1),
                'Includes': dbus.Array([], signature='o', variant_level=1),
            }
            self.root.AddObject(spath, SERVICE, sprops, [])
            self.announce(spath, SERVICE, sprops)
            for ch in svc['chars']:
                cpath = f'{spath}/char{handle:04x}'
                handle += 1
                cprops = {
                    'UUID': dbus.String(ch['uuid'], variant_level=1),
                    'Service': dbus.ObjectPath(spath, variant_level=1),
                    'Value': byte_array(ch.get('value', '')),
                    'Notifying': dbus.Boolean(False, variant_level=1),
                    'Flags': dbus.Array(ch['flags'], signature='s', variant_level=1),
                }
                self.root.AddObject(cpath, CHAR, cprops, [
                    ('ReadValue', 'a{sv}', 'ay', READ_VALUE),
                    ('WriteValue', 'aya{sv}', '', ''),
                    ('StartNotify', '', '', START_NOTIFY),
                    ('StopNotify', '', '', STOP_NOTIFY),
                ])
                self.announce(cpath, CHAR, cprops)
                self.chars[(address, ch['uuid'].lower())] = cpath

    def char(self, address, uuid):
        return self.chars[(address, uuid.lower())]

    def notifying(self, path):
        props = dbus.Interface(self.bus.get_object('org.bluez', path),
                               'org.freedesktop.DBus.Properties')
        return bool(props.Get(CHAR, 'Notifying'))

    def command(self, words):
        op = words[0]
        if op == 'notify':
            path = self.char(words[1], words[2])
            if not self.notifying(path):
                return 'ERR not notifying'
            self.obj(path).UpdateProperties(CHAR, {'Value': byte_array(words[3])})
            return 'OK'
        if op == 'wait-notifying':
            path = self.char(words[1], words[2])
            deadline = time.time() + float(words[3])
            while time.time() < deadline:
                if self.notifying(path):
                    return 'OK'
                time.sleep(0.02)
            return 'ERR timeout'
        if op == 'drop':
            address = words[1]
            for (a, _), cpath in self.chars.items():
                if a == address:
                    self.obj(cpath).UpdateProperties(
                        CHAR, {'Notifying': dbus.Boolean(False, variant_level=1)})
            self.obj(self.devices[address]).UpdateProperties(DEVICE, {
                'Connected': dbus.Boolean(False, variant_level=1),
                'ServicesResolved': dbus.Boolean(False, variant_level=1),
            })
            return 'OK'
        if op == 'pair':
            # What BlueZ shows once the OS has bonded with the device.
            self.obj(self.devices[words[1]]).UpdateProperties(DEVICE, {
                'Paired': dbus.Boolean(True, variant_level=1),
            })
            return 'OK'
        if op == 'calls':
            calls = self.obj(self.devices[words[1]]).GetMethodCalls(words[2])
            return f'OK {len(calls)}'
        return f'ERR unknown command {op}'

    def stop(self):
        try:
            self.server.terminate()
            self.server.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort, then kill
            self.server.kill()
        DBusTestCase.stop_dbus(self.bus_pid)


def main():
    spec = json.loads(sys.stdin.readline())
    mock = Mock(spec)
    try:
        say(f'READY {mock.address}')
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == 'quit':
                break
            try:
                say(mock.command(words))
            except Exception as e:  # noqa: BLE001 - reported to the test, never swallowed
                say(f'ERR {type(e).__name__}: {e}')
    finally:
        mock.stop()
        say('BYE')


if __name__ == '__main__':
    main()

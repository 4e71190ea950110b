// The Linux TUN: libs/netstack's device (the addon) and its link settings over netlink (`ip`).
import { readFile } from 'node:fs/promises';
import { TunDevice, linkConfig } from '@telepresence/netstack';
import type { OpenTun, Tun } from './tun.js';

export const openLinuxTun: OpenTun = (namePattern: string): Tun => {
  const device = TunDevice.open({ name: namePattern });
  const link = { link: device.name };
  return {
    name: device.name,
    device,
    async bringUp(mtu, txQueueLength) {
      await linkConfig.setMtu(link, mtu);
      await linkConfig.setTxQueueLength(link, txQueueLength);
      await linkConfig.setUp(link);
    },
    addAddress: (cidr) => linkConfig.addAddress(link, cidr),
    ifindex: async () => Number((await readFile(`/sys/class/net/${device.name}/ifindex`, 'utf8')).trim()),
    close: () => device.close(),
  };
};

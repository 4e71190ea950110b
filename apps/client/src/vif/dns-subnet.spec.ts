import { parseCidr } from '@telepresence/subnets';
import { chooseDnsSubnet } from './dns-subnet.js';

describe('chooseDnsSubnet', () => {
  it('takes the top /30 of 198.18.0.0/15 when nothing is in the way', () => {
    expect(chooseDnsSubnet([])).toEqual({
      cidr: '198.19.255.252/30',
      tunAddress: '198.19.255.253/30',
      dnsAddress: '198.19.255.254',
    });
  });

  it('skips routed subnets and local routes', () => {
    const avoid = ['198.19.255.0/24', '198.19.254.240/28', '198.18.0.0/16'].map((c) => parseCidr(c));
    expect(chooseDnsSubnet(avoid).cidr).toBe('198.19.254.236/30');
  });

  it('says so when the whole range is taken', () => {
    expect(() => chooseDnsSubnet([parseCidr('198.16.0.0/12')])).toThrow(/no free \/30/);
  });
});

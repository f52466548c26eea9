{
  'targets': [
    {
      'target_name': 'flowdemux_host',
      'sources': ['host.c', 'syn-watch.c', 'diag.c'],
      'libraries': ['-lpthread'],
      'cflags': ['-O2', '-Wall', '-Wextra'],
      'conditions': [['OS!="linux"', { 'type': 'none', 'sources': [] }]],
    },
  ],
}
